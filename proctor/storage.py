"""Media storage that is durable when it says it is: the server acknowledges a chunk only after this
returns, so the bytes must be on disk (or in the object store), not in a page cache."""

from __future__ import annotations

import os
from typing import Any

from django.core.files.storage import FileSystemStorage


class DurableFileSystemStorage(FileSystemStorage):
    """FileSystemStorage that fsyncs each file and its folder before ``save`` returns."""

    def _save(self, name: str, content: Any) -> str:
        # _save is the documented hook for storage subclasses, though the stubs omit it.
        name = super()._save(name, content)  # type: ignore[misc]
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
