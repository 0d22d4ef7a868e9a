"""The wire format of the recording socket: binary chunk frames and JSON messages.

A chunk frame is a 16-byte header, then the chunk's bytes:
    version (1 byte, = 1) | stream (1 byte: 0 webcam, 1 screen) | part (uint16 BE) | seq (uint32 BE)
    | client time (uint64 BE, ms since the epoch when the chunk's media began; 0 when unknown)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = 1
HEADER = struct.Struct(">BBHIQ")
STREAMS = ("webcam", "screen")

# Close codes (4000-4999 are the application's own), each with a message the page shows.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_CLOSED = 4409
CLOSE_MALFORMED = 4400
CLOSE_TOO_LARGE = 4413
CLOSE_FLOOD = 4429


class FrameError(ValueError):
    """A frame that does not follow the protocol."""


@dataclass(frozen=True)
class ChunkFrame:
    stream: str
    part: int
    seq: int
    client_time: datetime | None
    data: bytes


def chunk_frame_parse(frame: bytes) -> ChunkFrame:
    if len(frame) < HEADER.size:
        raise FrameError(f"A chunk frame needs its {HEADER.size}-byte header.")
    version, stream, part, seq, client_ms = HEADER.unpack_from(frame)
    if version != VERSION:
        raise FrameError(f"Unknown frame version {version}.")
    if stream >= len(STREAMS):
        raise FrameError(f"Unknown stream {stream}.")
    return ChunkFrame(STREAMS[stream], part, seq, client_time_from_ms(client_ms), frame[HEADER.size :])


def client_time_from_ms(value: object) -> datetime | None:
    """A browser's milliseconds since the epoch as a datetime; None when absent, zero or absurd."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not value:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def chunk_frame_build(*, stream: str, seq: int, data: bytes, part: int = 0, client_ms: int = 0) -> bytes:
    return HEADER.pack(VERSION, STREAMS.index(stream), part, seq, client_ms) + data
