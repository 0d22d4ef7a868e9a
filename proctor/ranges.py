"""HTTP Range requests for recording playback: parsing the header into a byte range.

Pure code, no Django: one range per request (browsers' media elements ask for one), as RFC 9110
describes it. A header that is present but cannot be honoured as one range is refused (416) rather
than ignored, since ignoring it would mean sending the whole file; of several ranges only the first
is answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT = re.compile(r"^\s*bytes\s*=(.*)$", re.DOTALL)
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
#: Longer headers are refused unread: a player asks for one short range.
MAX_HEADER = 200


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
    resource (no header). Of several ranges only the first is answered (RFC 9110 lets a server send
    fewer). Raises RangeNotSatisfiable when the header is malformed, names another unit, or the range
    starts beyond the end: a header this server cannot honour never turns into the whole file."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        raise RangeNotSatisfiable("The Range header is too long; ask for one range.")
    unit = _UNIT.match(header)
    if unit is None:
        raise RangeNotSatisfiable("Only byte ranges are served (Range: bytes=first-last).")
    match = _SPEC.match(unit.group(1).split(",", 1)[0])
    if match is None:
        raise RangeNotSatisfiable("The Range header is malformed (Range: bytes=first-last).")
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable("The Range header names no bytes.")
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable("An empty suffix range selects nothing.")
        return ByteRange(max(0, size - length), size)
    start = int(first)
    if last and int(last) < start:
        raise RangeNotSatisfiable(f"The range ends at {last}, before it starts at {start}.")
    if start >= size:
        raise RangeNotSatisfiable(f"The range starts at {start}, beyond the {size} bytes there are.")
    stop = size if not last else min(int(last) + 1, size)
    return ByteRange(start, stop)
