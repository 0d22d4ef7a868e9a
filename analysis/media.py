"""Decoding recorded WebM streams for analysis, in one pass and in memory.

Pure code: plaintext chunks in (already decrypted, in order), frames and samples out to callbacks, no
Django, no file on disk. Video is sampled at keyframes only (the recorder writes one a second), which
costs about a tenth of decoding every frame; a recording with sparse keyframes is decoded in full and
sampled once a second instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from recordings.remux import IterReader, MediaError

#: Keyframes further apart than this are too sparse to sample: decode every frame instead.
MAX_KEYFRAME_GAP = 2.5
SAMPLE_EVERY = 1.0
#: Voice-activity detection needs no more than 16 kHz; resampling down makes it three times cheaper.
AUDIO_RATE = 16_000

VideoSink = Callable[[float, np.ndarray], None]
AudioSink = Callable[[float, np.ndarray], None]
ProgressSink = Callable[[int], None]


class CountingReader(IterReader):
    """Counts the bytes read, so progress can be reported against the stored size."""

    def __init__(self, chunks: Iterable[bytes], progress: ProgressSink | None) -> None:
        super().__init__(chunks)
        self.read_bytes = 0
        self.progress = progress
        self.reported = 0

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        size = super().readinto(target)
        self.read_bytes += size
        if self.progress is not None and self.read_bytes - self.reported >= 1 << 20:
            self.reported = self.read_bytes
            self.progress(self.read_bytes)
        return size


@dataclass(frozen=True)
class DecodeStats:
    #: The last media timestamp seen, in seconds.
    end: float
    #: How most frames were sampled: "keyframes", or "every frame" when keyframes were sparse.
    mode: str
    damaged_packets: int


class StreamDecoder:
    """One pass over a WebM: samples video (keyframes, or every frame while keyframes are sparse) and
    resamples audio, handing both to the sinks."""

    def __init__(self, video: VideoSink | None, audio: AudioSink | None) -> None:
        self.video, self.audio = video, audio
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self.first: float | None = None
        self.last = 0.0
        self.damaged = 0
        self.mode = "keyframes"
        self.sampled = {"keyframes": 0, "every frame": 0}
        self.last_key: float | None = None
        self.last_sample = -1e9

    def packet(self, packet: Any) -> None:
        if packet.pts is None or packet.time_base is None or packet.size == 0:
            return
        t = float(packet.pts * packet.time_base)
        self.first = t if self.first is None else min(self.first, t)
        self.last = max(self.last, t)
        is_video = packet.stream.type == "video"
        if is_video and packet.is_keyframe:
            # Decided afresh at every keyframe, so one lost chunk does not cost the whole recording.
            sparse = self.last_key is not None and t - self.last_key > MAX_KEYFRAME_GAP
            self.mode = "every frame" if sparse else "keyframes"
            self.last_key = t
        if is_video and self.mode == "keyframes" and not packet.is_keyframe:
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            self.damaged += 1  # a chunk lost in the network leaves a damaged packet or two: go on
            return
        for frame in frames:
            if is_video:
                self._video_frame(frame, t)
            else:
                self._audio_frame(frame, t)

    def _video_frame(self, frame: Any, t: float) -> None:
        at = float(frame.pts * frame.time_base) if frame.pts is not None else t
        if self.video is not None and at - self.last_sample >= SAMPLE_EVERY * 0.9:
            self.last_sample = at
            self.sampled[self.mode] += 1
            self.video(at, frame.to_ndarray(format="rgb24"))

    def _audio_frame(self, frame: Any, t: float) -> None:
        if self.audio is None:
            return
        for mono in self.resampler.resample(frame):
            samples = mono.to_ndarray().reshape(-1)
            self.audio(t, samples)

    def stats(self) -> DecodeStats:
        if self.first is None:
            raise MediaError("The recording is empty: it holds no frames.")
        dominant = max(self.sampled, key=lambda name: self.sampled[name])
        return DecodeStats(self.last, dominant, self.damaged)


def decode_stream(
    chunks: Iterable[bytes],
    *,
    video: VideoSink | None = None,
    audio: AudioSink | None = None,
    progress: ProgressSink | None = None,
) -> DecodeStats:
    """Demux once; hand sampled video frames (RGB) and mono 16 kHz 16-bit audio to the sinks."""
    decoder = StreamDecoder(video, audio)
    try:
        with av.open(CountingReader(chunks, progress), mode="r", format="webm") as container:
            streams: list[Any] = []
            if video is not None and container.streams.video:
                streams.append(container.streams.video[0])
            if audio is not None and container.streams.audio:
                streams.append(container.streams.audio[0])
            if not streams:
                raise MediaError("The recording holds no video or audio to analyse.")
            for packet in container.demux(*streams):
                decoder.packet(packet)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError) as exc:
        if decoder.first is None:
            raise MediaError(f"The recording could not be read: {exc}") from exc
        decoder.damaged += 1  # the readable part before the damage still counts
    # Any other error (storage unavailable, a chunk that fails to decrypt) reaches the caller: it is
    # not the media's fault, and analysing only part of the recording would hide that.
    return decoder.stats()


def keyframes_at(chunks: Iterable[bytes], moments: Iterable[float]) -> Iterator[tuple[float, np.ndarray]]:
    """For each moment (media seconds), the keyframe at or just before it, decoded alone: for the
    thumbnails of browser-signal flags from the screen recording, without decoding the rest."""
    wanted = sorted(set(moments))
    if not wanted:
        return
    try:
        with av.open(IterReader(chunks), mode="r", format="webm") as container:
            if not container.streams.video:
                return
            stream = container.streams.video[0]
            held: av.Packet | None = None
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                while wanted and held is not None and t > wanted[0]:
                    yield from _decode_alone(held, wanted.pop(0))
                if packet.is_keyframe:
                    held = packet
                if not wanted:
                    return
            while wanted and held is not None:
                yield from _decode_alone(held, wanted.pop(0))
    except (av.FFmpegError, ValueError, OSError):
        return  # a thumbnail is a convenience: the flag stands without it


def _decode_alone(packet: av.Packet, moment: float) -> Iterator[tuple[float, np.ndarray]]:
    try:
        for frame in packet.decode():
            yield moment, frame.to_ndarray(format="rgb24")
            return
    except av.FFmpegError:
        return
