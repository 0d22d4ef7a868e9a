"""System checks for the privacy promises that depend on how the server is run."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.core import checks

IN_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def filesystem_of(path: str) -> str | None:
    """The filesystem type of the mount holding ``path`` (Linux /proc/mounts), or None if unknown."""
    try:
        with open("/proc/mounts") as mounts:
            entries = [line.split()[1:3] for line in mounts if len(line.split()) >= 3]
    except OSError:
        return None
    real = os.path.realpath(path)
    best = max(
        (entry for entry in entries if real == entry[0] or real.startswith(entry[0].rstrip("/") + "/")),
        key=lambda entry: len(entry[0]),
        default=None,
    )
    return best[1] if best else None


@checks.register(checks.Tags.security, deploy=True)
def temporary_files_stay_in_memory(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Daphne (Twisted) spools request bodies of 100 KB or more, such as identity photos, to a
    temporary file: the temporary folder must be in memory, or plaintext would touch disk."""
    folder = tempfile.gettempdir()
    kind = filesystem_of(folder)
    if kind in IN_MEMORY_FILESYSTEMS:
        return []
    return [
        checks.Error(
            f"The temporary folder {folder} is on {kind or 'an unknown filesystem'}, not in memory.",
            hint="Set TMPDIR to a tmpfs (for example /dev/shm, or a tmpfs mounted at /tmp) for Daphne.",
            id="invigil.E001",
        )
    ]
