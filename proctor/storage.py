"""Media storage that is durable when it says it is: the server acknowledges a chunk only after this
returns, so the bytes must be on disk (or in the object store), not in a page cache."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


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


class DurableFileSystemStorage(FileSystemStorage):
    """FileSystemStorage that fsyncs each file and its folder before ``save`` returns, unless the file is
    saved for a batch (save_for_batch), which becomes durable with the rest of its batch (batch_make_durable)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batching = threading.local()

    def _save(self, name: str, content: Any) -> str:
        # _save is the documented hook for storage subclasses, though the stubs omit it.
        name = super()._save(name, content)  # type: ignore[misc]
        if getattr(self._batching, "on", False):
            return name
        path = self.path(name)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # The folder entry must be durable too, or a crash can lose a fully written file.
        dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return name

    def save_unsynced(self, name: str, content: Any) -> str:
        self._batching.on = True
        try:
            return self.save(name, content)
        finally:
            self._batching.on = False

    def sync_all(self) -> None:
        _syncfs(self.location)


def save_for_batch(storage: Storage, name: str, content: Any) -> str:
    """Save a file that need not be durable yet: batch_make_durable makes a whole batch durable at once.
    Object stores (S3) are durable when a write returns, so there this is an ordinary save."""
    if isinstance(storage, DurableFileSystemStorage):
        return storage.save_unsynced(name, content)
    return storage.save(name, content)


def batch_make_durable(storage: Storage) -> None:
    """Everything saved for a batch so far is durable once this returns."""
    if isinstance(storage, DurableFileSystemStorage):
        storage.sync_all()
