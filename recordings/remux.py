"""Remux a MediaRecorder WebM (no cues, no duration) into a seekable WebM, in memory.

Pure media code: bytes in, bytes out, no Django. The caller decrypts before and encrypts after, so
plaintext never touches disk.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av


class MediaError(Exception):
    """The recording cannot be decoded: corrupt or empty."""


class IterReader(io.RawIOBase):
    """A read-only, forward-only file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


@dataclass(frozen=True)
class Remuxed:
    data: bytes
    duration_seconds: float


def remux_seekable(chunks: Iterable[bytes]) -> Remuxed:
    """Copy every packet into a new WebM written to a seekable buffer, so the muxer adds cues and
    the duration. No re-encoding: the cost is reading and writing the bytes."""
    output = io.BytesIO()
    try:
        with (
            av.open(IterReader(chunks), mode="r", format="webm") as source,
            av.open(output, mode="w", format="webm") as target,
        ):
            mapping = {}
            for stream in source.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = target.add_stream_from_template(stream)
            if not mapping:
                raise MediaError("The recording has no audio or video.")
            last = 0.0
            for packet in source.demux(*[s for s in source.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    last = max(last, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                packet.stream = mapping[packet.stream.index]
                target.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"The recording could not be read: {exc}") from exc
    if last <= 0:
        raise MediaError("The recording is empty.")
    return Remuxed(output.getvalue(), last)
