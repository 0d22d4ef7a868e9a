"""Files saved for a batch: durable at batch_make_durable, then out of the page cache, and still whole."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import pytest

from proctor import storage
from proctor.storage import DurableFileSystemStorage, batch_make_durable, save_for_batch

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]

pytestmark = pytest.mark.skipif(
    not hasattr(os, "posix_fadvise"), reason="the page cache is asked to drop on Linux only"
)


def cached_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache (mincore on a read-only mapping, which reads nothing)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
            vector = ctypes.create_string_buffer(pages)
            assert _libc.mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
            return sum(byte & 1 for byte in vector.raw)
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)


@pytest.fixture
def media(tmp_path: Path) -> DurableFileSystemStorage:
    # Where the filesystem is the page cache (tmpfs), nothing can leave it: this is about disks.
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(64 * 1024))
    fd = os.open(probe, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if cached_pages(probe):
        pytest.skip(f"{tmp_path}'s filesystem keeps every page in memory")
    return DurableFileSystemStorage(location=tmp_path / "media")


def test_a_batch_is_out_of_the_cache_once_durable_and_reads_back_whole(media: DurableFileSystemStorage) -> None:
    bodies = {f"rec/{index}.sealed": os.urandom(120_000 + index) for index in range(5)}
    names = [save_for_batch(media, name, body) for name, body in bodies.items()]
    assert all(cached_pages(Path(media.path(name))) > 0 for name in names)  # written, and cached until durable

    batch_make_durable(media)

    assert [cached_pages(Path(media.path(name))) for name in names] == [0] * len(names)
    for name, body in bodies.items():
        with media.open(name) as handle:
            assert handle.read() == body


def test_a_file_saved_after_the_sync_stays_for_the_next_batch(
    media: DurableFileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written while a sync runs may still be dirty when it ends: it is dropped after the next sync,
    not this one (dropping asks the kernel to write it back on the spot)."""
    first = save_for_batch(media, "rec/0.sealed", os.urandom(100_000))
    late: list[str] = []
    real_syncfs = storage._syncfs

    def syncfs(path: str) -> None:
        late.append(save_for_batch(media, "rec/1.sealed", os.urandom(100_000)))  # another thread, meanwhile
        real_syncfs(path)

    monkeypatch.setattr(storage, "_syncfs", syncfs)
    batch_make_durable(media)
    assert cached_pages(Path(media.path(first))) == 0
    assert media._unsynced == [media.path(late[0])]

    monkeypatch.setattr(storage, "_syncfs", real_syncfs)
    batch_make_durable(media)
    assert cached_pages(Path(media.path(late[0]))) == 0
    assert media._unsynced == []


def test_a_file_deleted_before_its_batch_is_durable_is_passed_over(media: DurableFileSystemStorage) -> None:
    gone = save_for_batch(media, "rec/0.sealed", os.urandom(10_000))
    kept = save_for_batch(media, "rec/1.sealed", os.urandom(10_000))
    media.delete(gone)

    batch_make_durable(media)

    assert not media.exists(gone)
    assert cached_pages(Path(media.path(kept))) == 0


def test_the_files_remembered_for_the_next_sync_are_bounded(
    media: DurableFileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "MAX_UNSYNCED_REMEMBERED", 3)
    names = [save_for_batch(media, f"rec/{index}.sealed", b"x" * 10) for index in range(5)]
    assert media._unsynced == [media.path(name) for name in names[:3]]
    batch_make_durable(media)
    assert media._unsynced == []
    for name in names:
        with media.open(name) as handle:
            assert handle.read() == b"x" * 10
