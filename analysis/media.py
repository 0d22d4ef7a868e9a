"""Decoding recorded WebM streams for analysis, in one pass and in memory.

Pure code: plaintext chunks in (already decrypted, in order), frames and samples out to callbacks, no
Django, no file on disk. Video is sampled about once a second. A keyframe is decoded on its own (a
recorder asked for one a second gives one a second, about a tenth of the cost of decoding every frame);
the frames between keyframes are held undecoded and decoded only when a sample falls due and no
keyframe came to serve it (Firefox and Safari space keyframes many seconds apart), so any spacing is
sampled evenly, from the first second of a part, and only what the analysis needs is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from recordings.remux import IterReader, MediaError

SAMPLE_EVERY = 1.0
#: A sample that falls due waits this long for a keyframe to serve it before the frames in between
#: are decoded instead.
KEYFRAME_GRACE = 0.3
#: Voice-activity detection needs no more than 16 kHz; resampling down makes it three times cheaper.
AUDIO_RATE = 16_000
#: Decoded audio is resampled and handed to its sink in runs of about this many seconds (resampling
#: each 20 ms packet on its own cost more than decoding it, and one sink call per packet more than the
#: voice analysis itself); a run ends early where the audio jumps by more than AUDIO_JUMP seconds (a
#: lost chunk), so the sink still sees where each stretch of sound starts.
AUDIO_BATCH_SECONDS = 1.0
AUDIO_JUMP = 0.25

VideoSink = Callable[[float, "FramePicture"], None]
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


class FramePicture:
    """A decoded video frame: its luma plane at once (no conversion), RGB only when asked."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self._rgb: np.ndarray | None = None

    @property
    def grey(self) -> np.ndarray:
        plane = self.frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return np.ascontiguousarray(rows[:, : plane.width])

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.frame.to_ndarray(format="rgb24")
        return self._rgb


@dataclass(frozen=True)
class DecodeStats:
    #: The last media timestamp seen, in seconds.
    end: float
    #: How most samples were taken: "keyframes", or "frames between keyframes" when keyframes were sparse.
    mode: str
    damaged_packets: int
    #: Video frames decoded, keyframes included.
    frames_decoded: int = 0


class StreamDecoder:
    """One pass over a WebM: samples video about once a second (at keyframes where they come often
    enough, by decoding the frames in between where they do not) and resamples audio."""

    def __init__(self, video: VideoSink | None, audio: AudioSink | None, *, start_at: float = 0.0) -> None:
        self.video, self.audio = video, audio
        #: Nothing before this media time is sampled or decoded, except the frames a later one needs.
        self.start_at = start_at
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self.first: float | None = None
        self.last = 0.0
        self.damaged = 0
        self.sampled = {"keyframes": 0, "frames between keyframes": 0}
        self.decoded = 0
        self.last_sample = -1e9
        #: Packets since the last decoded one, held undecoded until a sample needs them.
        self.held: list[Any] = []
        #: A keyframe has been decoded and every packet after it so far is decoded or held.
        self.chain = False
        #: When the latest keyframe came, and how long before it the one before did.
        self.last_key: float | None = None
        self.key_spacing: float | None = None
        self.tick: dict[int, float] = {}
        #: Decoded audio not yet resampled (as the decoder gave it), the media time it starts at, and
        #: its length in samples.
        self.pcm = av.AudioFifo()
        self.pcm_start = 0.0
        self.pcm_samples = 0

    def packet(self, packet: Any) -> None:
        if packet.pts is None or packet.time_base is None or packet.size == 0:
            return
        t = packet.pts * self._seconds(packet.stream)
        self.first = t if self.first is None else min(self.first, t)
        self.last = max(self.last, t)
        if packet.stream.type == "video":
            if self.video is not None:
                self._video_packet(packet, t)
            return
        if t < self.start_at:
            return  # audio before the start is not needed: each Opus packet decodes on its own
        try:
            frames = packet.decode()
        except av.FFmpegError:
            self.damaged += 1  # a chunk lost in the network leaves a damaged packet or two: go on
            return
        for frame in frames:
            self._audio_frame(frame, t)

    def _seconds(self, stream: Any) -> float:
        """Seconds per tick of the stream's time base, as a float (Fractions cost a lot per packet)."""
        found = self.tick.get(stream.index)
        if found is None:
            found = self.tick[stream.index] = float(stream.time_base)
        return found

    def _due(self, t: float) -> bool:
        return t >= self.start_at and t - self.last_sample >= SAMPLE_EVERY * 0.9

    def _video_packet(self, packet: Any, t: float) -> None:
        if t < self.start_at:
            # Before the start, only the chain from the latest keyframe is kept (undecoded): the first
            # frames after the start need it.
            if packet.is_keyframe:
                self.held, self.chain = [packet], True
            elif self.chain:
                self.held.append(packet)
            return
        if packet.is_keyframe:
            if self.last_key is not None and t > self.last_key:
                self.key_spacing = t - self.last_key
            self.last_key = t
            # Everything before a keyframe is needed by nothing after it.
            self.held.clear()
            self.chain = True
            self._decode(packet, "keyframes", sample=self._due(t))
            return
        if not self.chain:
            return  # no keyframe yet (or the chain broke): nothing here can be decoded
        self.held.append(packet)
        # Where keyframes come about once a second, a sample falling due waits a moment for the next
        # one; where they are sparse (or not yet known), the frames in between are decoded at once.
        dense = self.key_spacing is not None and self.key_spacing <= SAMPLE_EVERY + KEYFRAME_GRACE
        if t - self.last_sample >= SAMPLE_EVERY * 0.9 + (KEYFRAME_GRACE if dense else 0.0):
            # A sample is overdue and no keyframe came: decode the held frames, sampling the one due.
            held, self.held = self.held, []
            for waiting in held:
                at = waiting.pts * self._seconds(waiting.stream)
                if not self._decode(waiting, "frames between keyframes", sample=self._due(at)):
                    self.chain = False  # a damaged frame: the rest of the chain cannot be decoded
                    return

    def _decode(self, packet: Any, mode: str, *, sample: bool) -> bool:
        try:
            frames = packet.decode()
        except av.FFmpegError:
            self.damaged += 1
            return False
        for frame in frames:
            self.decoded += 1
            if sample and self.video is not None:
                at = float(frame.pts * frame.time_base) if frame.pts is not None else self.last
                self.last_sample = at
                self.sampled[mode] += 1
                self.video(at, FramePicture(frame))
        return True

    def _audio_frame(self, frame: Any, t: float) -> None:
        if self.audio is None:
            return
        if self.pcm_samples and abs(t - (self.pcm_start + self.pcm_samples / frame.sample_rate)) > AUDIO_JUMP:
            self.flush_audio()
        if not self.pcm_samples:
            self.pcm_start = t
        # The run's time is kept here, from the packets; the queue would refuse their rounded timestamps.
        frame.pts = None
        self.pcm.write(frame)
        self.pcm_samples += frame.samples
        if self.pcm_samples >= AUDIO_BATCH_SECONDS * frame.sample_rate:
            self.flush_audio()

    def flush_audio(self) -> None:
        """Resample the audio held back and hand it to the sink (at the end of the stream, or of a run)."""
        run = self.pcm.read() if self.pcm_samples else None
        if run is not None and self.audio is not None:
            mono = [piece.to_ndarray().reshape(-1) for piece in self.resampler.resample(run)]
            if mono:
                self.audio(self.pcm_start, np.concatenate(mono))
        self.pcm_samples = 0

    def stats(self) -> DecodeStats:
        if self.first is None:
            raise MediaError("The recording is empty: it holds no frames.")
        dominant = max(self.sampled, key=lambda name: self.sampled[name])
        return DecodeStats(self.last, dominant, self.damaged, self.decoded)


def decode_stream(
    chunks: Iterable[bytes],
    *,
    video: VideoSink | None = None,
    audio: AudioSink | None = None,
    progress: ProgressSink | None = None,
    start_at: float = 0.0,
) -> DecodeStats:
    """Demux once; hand sampled video frames (pictures) and mono 16 kHz 16-bit audio to the sinks,
    from media time ``start_at`` on (what comes before is demuxed, not decoded)."""
    decoder = StreamDecoder(video, audio, start_at=start_at)
    try:
        with av.open(CountingReader(chunks, progress), mode="r", format="webm") as container:
            streams: list[Any] = []
            if video is not None and container.streams.video:
                stream = container.streams.video[0]
                # One thread: frames come out of the very packet that holds them, and the CPU time is
                # the work done, not the work spread over idle cores.
                stream.thread_type = "NONE"
                streams.append(stream)
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
    decoder.flush_audio()
    # Any other error (storage unavailable, a chunk that fails to decrypt) reaches the caller: it is
    # not the media's fault, and analysing only part of the recording would hide that.
    return decoder.stats()


def frames_at(
    chunks: Iterable[bytes], moments: Iterable[float], *, keyframes_only: bool = False
) -> Iterator[tuple[float, np.ndarray]]:
    """For each moment (media seconds), the frame shown then: the frames from the keyframe before it
    up to it are decoded, nothing else (the webcam's flags). With ``keyframes_only``, the keyframe at or
    just before it, decoded alone (the screen, which changes seldom)."""
    wanted = sorted(set(moments))
    if not wanted:
        return
    try:
        with av.open(IterReader(chunks), mode="r", format="webm") as container:
            if not container.streams.video:
                return
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            chain: list[av.Packet] = []
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None or packet.size == 0:
                    continue
                t = float(packet.pts * packet.time_base)
                while wanted and chain and t > wanted[0]:
                    yield from _decode_chain(chain, wanted.pop(0))
                if packet.is_keyframe:
                    chain = []
                if packet.is_keyframe or (chain and not keyframes_only):
                    chain.append(packet)
                if not wanted:
                    return
            while wanted and chain:
                yield from _decode_chain(chain, wanted.pop(0))
    except (av.FFmpegError, ValueError, OSError):
        return  # a picture is a convenience: the flag stands without it


def _decode_chain(chain: list[av.Packet], moment: float) -> Iterator[tuple[float, np.ndarray]]:
    shown = None
    try:
        for packet in chain:
            for frame in packet.decode():
                shown = frame
    except av.FFmpegError:
        pass
    if shown is not None:
        yield moment, shown.to_ndarray(format="rgb24")
