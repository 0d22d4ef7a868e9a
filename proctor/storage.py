"""Media storage that is durable when it says it is: the server acknowledges a chunk only after this
returns, so the bytes must be on disk (or in the object store), not in a page cache. On an object
store, reads fetch only the byte ranges asked for, and a deletion removes every version."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import re
import threading
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage
from django.core.files.utils import validate_file_name
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

#: Bytes fetched per request when reading an object: a sealed chunk (about 120 KB) in one request, and
#: a playback range in requests of this size, never the whole object.
READ_AHEAD_BYTES = 256 * 1024
#: The most keys one DeleteObjects request may name (S3's limit).
DELETE_BATCH = 1000
_CONTENT_RANGE = re.compile(r"bytes \d+-\d+/(\d+)")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a folder by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(path: str | os.PathLike[str]) -> None:
    """Make everything written to the filesystem holding ``path`` durable, in one call: one journal commit
    for any number of files, where an fsync of each file and folder costs a commit apiece."""
    syncfs = getattr(_libc, "syncfs", None)
    if syncfs is None:  # not Linux: every filesystem, which is slower but as durable
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs failed: {os.strerror(errno)}", path)
    finally:
        os.close(fd)


def drop_cached(paths: list[str]) -> None:
    """Ask the kernel to drop these files' pages from its page cache. Called once they are durable, when
    their pages are clean and dropping them neither writes nor waits. A file deleted meanwhile is passed over."""
    if not hasattr(os, "posix_fadvise"):  # not Linux: the cache stays as it is
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


#: The most files written for batches that a storage remembers until its next sync_all, to drop their
#: pages from the cache; beyond it, files stay cached as any other would.
MAX_UNSYNCED_REMEMBERED = 10_000


class DurableFileSystemStorage(FileSystemStorage):
    """FileSystemStorage that fsyncs each file and its folder before ``save`` returns, unless the file is
    saved for a batch (save_for_batch), which becomes durable with the rest of its batch (batch_make_durable).

    Files saved for a batch leave the page cache once they are durable. Media chunks are written once, at
    an exam's full rate (80 MB/s at 1,000 students), and read once more, within a minute by the analysis or
    at playback. Kept, they fill the cache and push out the pages of every other file; and every chunk
    takes fresh pages from free memory, which on a virtual machine is the slowest memory to touch. There,
    the kernel's copy into fresh pages took a third of the machine's CPU at 1,000 students (bench/ingest.py,
    with perf). Dropped, the next chunks reuse the same pages.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batching = threading.local()
        # The batch files written since the last sync_all, by any thread (the ingest seals on two).
        self._unsynced: list[str] = []
        self._unsynced_lock = threading.Lock()

    def _save(self, name: str, content: Any) -> str:
        # _save is the documented hook for storage subclasses, though the stubs omit it.
        name = super()._save(name, content)  # type: ignore[misc]
        if getattr(self._batching, "on", False):
            return name
        path = self.path(name)
        fsync_path(path)
        # The folder entry must be durable too, or a crash can lose a fully written file.
        fsync_path(os.path.dirname(path))
        return name

    def save_unsynced(self, name: str, data: bytes) -> str:
        """Write ``data`` as a new file under ``name`` (which no other writer uses: the caller gives it a
        fresh suffix), durable only once the batch is (sync_all). Never overwrites: a name already taken
        falls back to Django's save, which picks a free one. Two system calls to create and fill the file,
        where Storage.save checks the name, creates the folder and locks the file on every call."""
        validate_file_name(name, allow_relative_path=True)
        path = self.path(name)  # joined safely: never outside the location
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            try:
                fd = os.open(path, flags, 0o666)
            except FileNotFoundError:  # the recording's first chunk: its folder is new
                os.makedirs(os.path.dirname(path), mode=self.directory_permissions_mode or 0o777, exist_ok=True)
                fd = os.open(path, flags, 0o666)
        except FileExistsError:
            self._batching.on = True
            try:
                return self.save(name, ContentFile(data))
            finally:
                self._batching.on = False
        try:
            if self.file_permissions_mode is not None:
                os.fchmod(fd, self.file_permissions_mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(path)  # half a file is never left behind under a name
            raise
        os.close(fd)
        with self._unsynced_lock:
            if len(self._unsynced) < MAX_UNSYNCED_REMEMBERED:
                self._unsynced.append(path)
        return name.replace("\\", "/")

    def sync_all(self) -> None:
        """Make every file written so far durable, then drop from the cache those written for batches
        before the sync began (so they are clean)."""
        with self._unsynced_lock:
            written, self._unsynced = self._unsynced, []
        _syncfs(self.location)
        drop_cached(written)


def save_for_batch(storage: Storage, name: str, data: bytes) -> str:
    """Save bytes that need not be durable yet: batch_make_durable makes a whole batch durable at once.
    Object stores (S3) are durable when a write returns, so there this is an ordinary save."""
    if isinstance(storage, DurableFileSystemStorage):
        return storage.save_unsynced(name, data)
    return storage.save(name, ContentFile(data))


def batch_make_durable(storage: Storage) -> None:
    """Everything saved for a batch so far is durable once this returns."""
    if isinstance(storage, DurableFileSystemStorage):
        storage.sync_all()


class ObjectStorage(S3Storage):
    """S3Storage for sealed media on any S3-compatible store (AWS, MinIO, Ceph...).

    django-storages' own file object downloads the whole object on the first read, so seeking to a
    minute of a three-hour playback copy would fetch all of it: here a file opened for reading fetches
    the ranges read, a buffer at a time. A PUT is durable once it returns, so saving needs nothing
    more (uploads stay in the calling thread, see below). In a versioned bucket a plain DELETE only
    hides the object behind a delete marker, so ``delete`` removes every version and marker of the
    key: a purge must leave nothing behind."""

    def get_default_settings(self) -> dict[str, Any]:
        # Uploads run in the calling thread, one part at a time: a playback copy is made (reading the
        # database and the chunks) while it uploads, and one part in flight keeps memory bounded.
        return {**super().get_default_settings(), "transfer_config": TransferConfig(use_threads=False)}

    def _open(self, name: str, mode: str = "rb") -> File:
        if mode != "rb":
            return super()._open(name, mode)  # type: ignore[no-any-return]
        key = self._normalize_name(clean_name(name))
        reader = RangedObjectReader(self.connection.meta.client, bucket=self.bucket_name, key=key)
        return File(io.BufferedReader(reader, buffer_size=READ_AHEAD_BYTES), name=name)

    def delete(self, name: str) -> None:
        key = self._normalize_name(clean_name(name))
        client = self.connection.meta.client
        pages = client.get_paginator("list_object_versions").paginate(Bucket=self.bucket_name, Prefix=key)
        for page in pages:
            # The prefix also matches longer keys ("a.sealed" and "a.sealed.old"): only this key's own.
            doomed = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                if entry["Key"] == key
            ]
            for start in range(0, len(doomed), DELETE_BATCH):
                answer = client.delete_objects(
                    Bucket=self.bucket_name, Delete={"Objects": doomed[start : start + DELETE_BATCH], "Quiet": True}
                )
                failed = answer.get("Errors", [])
                if failed:
                    first = failed[0]
                    raise OSError(
                        f"The object store kept {len(failed)} version(s) of {key}: {first.get('Code')} "
                        f"({first.get('Message')}). Deleting versions needs s3:DeleteObjectVersion."
                    )


class RangedObjectReader(io.RawIOBase):
    """A read-only, seekable file over one object, each read one ranged GET.

    The object's size is learnt from the first answer (its Content-Range), so opening costs no
    request of its own; a missing object raises FileNotFoundError at the first read."""

    def __init__(self, client: Any, *, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.position = 0
        self.size: int | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self.position + offset
        elif whence == io.SEEK_END:
            target = self._size() + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if target < 0:
            raise ValueError("negative seek position")
        self.position = target
        return target

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = len(target)
        if wanted == 0:
            return 0
        data = self._get(self.position, self.position + wanted - 1)
        if len(data) > wanted:
            # A store that ignores Range sends the whole object, from its first byte: nothing here is usable.
            raise OSError(f"The object store ignored the Range header when reading {self.key}.")
        target[: len(data)] = data
        self.position += len(data)
        return len(data)

    def readall(self) -> bytes:
        """The rest of the object in one request (io's default would ask 8 KiB at a time)."""
        data = self._get(self.position, None)
        self.position += len(data)
        return data

    def _get(self, first: int, last: int | None) -> bytes:
        """Bytes ``first`` to ``last`` (inclusive; None: to the end) of the object, fewer at its end."""
        if self.size is not None:
            if first >= self.size:
                return b""
            last = self.size - 1 if last is None else min(last, self.size - 1)
        wanted = f"bytes={first}-{'' if last is None else last}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=wanted)
        except ClientError as err:
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            if status == 404:
                raise FileNotFoundError(f"No object {self.key} in bucket {self.bucket}.") from err
            if status == 416:  # the position is at or past the end
                return b""
            raise
        found = _CONTENT_RANGE.fullmatch(answer.get("ContentRange", ""))
        if found:
            self.size = int(found.group(1))
        with answer["Body"] as body:
            return bytes(body.read())

    def _size(self) -> int:
        if self.size is None:
            try:
                self.size = int(self.client.head_object(Bucket=self.bucket, Key=self.key)["ContentLength"])
            except ClientError as err:
                if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                    raise FileNotFoundError(f"No object {self.key} in bucket {self.bucket}.") from err
                raise
        return self.size
