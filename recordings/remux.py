"""Remux a MediaRecorder WebM (no cues, no duration) into a seekable WebM, as a stream.

Pure media code: bytes in, bytes out, no Django. The caller decrypts before and encrypts after, so
plaintext never touches disk. Memory stays bounded whatever the recording's length: the muxer writes
to a seekable output and goes back only to fill in the file's head (its length, duration and the
position of the cues), so a first pass keeps just that head and throws the rest away, and a second,
identical pass (bit-exact output) streams the rest out behind the finished head.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import av


class MediaError(Exception):
    """The recording cannot be decoded: corrupt or empty."""


class IterReader(io.RawIOBase):
    """A read-only, forward-only file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.buffer = b""
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while self.offset >= len(self.buffer):
            try:
                self.buffer, self.offset = next(self.chunks), 0
            except StopIteration:
                return 0
        # An offset, not re-slicing the rest: a 4 MiB chunk read 32 KiB at a time is not copied 128 times.
        size = min(len(target), len(self.buffer) - self.offset)
        target[:size] = self.buffer[self.offset : self.offset + size]
        self.offset += size
        return size


#: The muxer rewrites only its first few hundred bytes once it is done; this much is kept in memory.
HEAD_BYTES = 64 * 1024


class _HeadKeepingSink(io.RawIOBase):
    """The muxer's seekable output: keeps the first HEAD_BYTES, rewrites included, and hands on
    everything after them in order (``body``), once each."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.body: list[bytes] = []
        self.position = 0
        self.end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.end}[whence]
        self.position = base + offset
        return self.position

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(data)
        start, stop = self.position, self.position + len(data)
        if start < self.end:
            if stop > min(self.end, HEAD_BYTES):
                raise MediaError("The muxer rewrote more than the file's head; it cannot be streamed.")
            self.head[start:stop] = data
        elif start > self.end:
            raise MediaError("The muxer left a hole in the file; it cannot be streamed.")
        else:
            kept = data[: max(0, HEAD_BYTES - start)]
            self.head += kept
            if len(data) > len(kept):
                self.body.append(data[len(kept) :])
            self.end = stop
        self.position = stop
        return len(data)

    def drain(self) -> Iterator[bytes]:
        body, self.body = self.body, []
        return iter(body)


@dataclass
class _Pass:
    sink: _HeadKeepingSink
    duration_seconds: float = 0.0


def _remux(chunks: Iterable[bytes], run: _Pass) -> Iterator[bytes]:
    """Copy every packet into a new WebM written to ``run.sink``, yielding the bytes past the head as
    they are written. No re-encoding: the cost is reading and writing the bytes."""
    try:
        with (
            av.open(IterReader(chunks), mode="r", format="webm") as source,
            # Bit-exact: no random ids or version strings, so two passes over one input write the same bytes.
            av.open(run.sink, mode="w", format="webm", options={"fflags": "+bitexact"}) as target,
        ):
            mapping = {}
            for stream in source.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = target.add_stream_from_template(stream)
            if not mapping:
                raise MediaError("The recording has no audio or video.")
            for packet in source.demux(*[s for s in source.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    run.duration_seconds = max(run.duration_seconds, end)
                packet.stream = mapping[packet.stream.index]
                target.mux(packet)
                yield from run.sink.drain()
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"The recording could not be read: {exc}") from exc
    yield from run.sink.drain()  # the last cluster and the cues, written as the muxer closed


@dataclass(frozen=True)
class Remuxed:
    #: Bytes of the seekable WebM.
    size: int
    duration_seconds: float
    #: Its bytes in order, read from the recording a second time as they are consumed.
    data: Iterator[bytes]


def remux_seekable(read: Callable[[], Iterable[bytes]]) -> Remuxed:
    """Remux the stream that ``read()`` yields (called twice) into a seekable WebM with cues and its
    duration. The first pass runs here, so a corrupt or empty recording raises MediaError before
    anything is stored; the second runs as ``data`` is consumed."""
    first = _Pass(_HeadKeepingSink())
    size = sum(len(piece) for piece in _remux(read(), first)) + len(first.sink.head)
    if first.duration_seconds <= 0:
        raise MediaError("The recording is empty.")
    return Remuxed(size, first.duration_seconds, _second_pass(read, bytes(first.sink.head), size))


def _second_pass(read: Callable[[], Iterable[bytes]], head: bytes, size: int) -> Iterator[bytes]:
    yield head  # finished by the first pass; the second's own, unfinished head is not sent
    sent = len(head)
    for piece in _remux(read(), _Pass(_HeadKeepingSink())):
        sent += len(piece)
        yield piece
    if sent != size:
        raise MediaError(f"The second pass wrote {sent} bytes, the first {size}: the remux is not repeatable.")
