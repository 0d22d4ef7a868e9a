"""HTTP Range requests for recording playback: parsing the header into a byte range.

Pure code, no Django: one range per request (browsers' media elements ask for one), as RFC 9110
describes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(ValueError):
    """The range lies outside the resource (HTTP 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    #: Exclusive.
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The range a ``Range`` header asks for in a resource of ``size`` bytes; None for the whole
    resource (no header, or one this server ignores, as RFC 9110 allows: several ranges, other units).
    Raises RangeNotSatisfiable when the range starts beyond the end."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable("An empty suffix range selects nothing.")
        return ByteRange(max(0, size - length), size)
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # not a valid range: ignored, the whole resource is sent
    if start >= size:
        raise RangeNotSatisfiable(f"The range starts at {start}, beyond the {size} bytes there are.")
    return ByteRange(start, stop)
