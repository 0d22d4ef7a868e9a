"""The second opinion on speech: a learned voice-activity model, heard through a noise filter.

Pure code: PCM in, time ranges out, no Django, nothing sent anywhere. The band detector
(analysis/speech.py) hears speech only where some of its bands clear their noise floor by 7 dB or
more; under a fan, a road or pink noise as loud as the voice or louder, no band does, and under music
every band moves. This second detector is Silero VAD (version 6, MIT licence,
analysis/models/silero_vad.LICENSE), a small network trained on speech in many languages over many
noises: its weights (analysis/models/silero_vad.npz, converted by scripts/silero_weights.py) run here
in numpy, checked against onnxruntime on the same file (tests/analysis/test_voicemodel.py).

Before the model hears it, the audio goes through a spectral subtraction with a LOCAL noise estimate:
per frequency bin, the larger of the minimum smoothed power of the two seconds before and of the two
seconds after, so a steady noise is its own floor and a step in its level is followed from either
side, never a percentile of the whole recording. What stands above that floor (a voice) passes; the
steady part is pulled down by up to 20 dB.

The model gives a probability of speech per 32 ms. A stretch starts where it reaches ON and lasts
while it stays above OFF, through dips shorter than PAUSE_SECONDS; each stretch carries its mean
probability, which the exam's sensitivity compares with its own (rules.Thresholds.speech_probability).
The constants are the model's published defaults (0.5 and 0.35) and the filter's were chosen once, on
the development half of tests/sounds.py; the held-back half checks them.

The model listens only where there is something to hear: within a second of a 32 ms chunk louder
than -50 dBFS (LOUD_DB). In a quiet room that is the voice itself, which the band detector hears by a
wide margin anyway; in loud surroundings, where the second opinion matters, it is everything. So a
quiet exam costs little more than before.

The audio is processed in pieces of about 33 s, always cut at the same places from the start of a
segment, with the filter's reach of context either side: so the stretches do not depend on how the
audio arrives, every probability is within 1e-3 of what the segment in one piece gives, and the
memory held is one piece.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from analysis.rules import SPEECH_PROBABILITY, Evidence, Kind
from analysis.running import moving_mean, running

RATE = 16_000
#: Samples per probability (32 ms) and the samples of the previous piece the model sees with each.
CHUNK = 512
CONTEXT = 64
CHUNK_SECONDS = CHUNK / RATE
#: A probability of speech that starts a stretch, and the one under which it ends.
ON = 0.5
OFF = 0.35
#: A dip under OFF shorter than this does not end a stretch (a breath between words).
PAUSE_SECONDS = 0.3
#: A stretch shorter than this is a blip, not a word: dropped (the model's published default, 250 ms).
MIN_SPEECH_SECONDS = 0.25
#: The model hears only chunks within LOUD_REACH_SECONDS of one louder than LOUD_DB (RMS over 32 ms).
#: A voice at a talking level is -30 to -15 dBFS and a quiet room -50 to -65: there the band detector
#: hears any voice by a wide margin, and the model is for loud surroundings, where it hears everything.
LOUD_DB = -50.0
LOUD_REACH_SECONDS = 1.0
#: Added before and after a stretch: the model reacts a little after a voice begins and ends.
PAD_SECONDS = 0.1

# The noise filter: frames of 32 ms every 16 ms, square-root Hann windows (they add back to the signal).
FRAME = 512
HOP = 256
NOISE_SECONDS = 2.0
SMOOTH_FRAMES = 5
#: The smoothed minimum of a steady noise sits under its mean; this brings it back up.
FLOOR_BIAS_DB = 3.0
#: How much of the noise estimate is taken away (over-subtraction), and the least gain (-20 dB).
OVERSUBTRACT = 2.0
GAIN_FLOOR = 0.1
#: The floor is the minimum over blocks of this many frames (64 ms): it need not move every frame.
FLOOR_STEP = 4
_NOISE_BLOCKS = round(NOISE_SECONDS * RATE / HOP / FLOOR_STEP)
#: Frames a frame's gain can depend on, either side (the smoothing and the two-sided minimum), a
#: multiple of FLOOR_STEP.
_REACH_FRAMES = (_NOISE_BLOCKS + 2) * FLOOR_STEP
#: Chunks analysed at once (about 33 s).
PIECE_CHUNKS = 1024
_WINDOW = np.sqrt(np.hanning(FRAME + 1)[:FRAME]).astype(np.float32)

WEIGHTS = Path(__file__).resolve().parent / "models" / "silero_vad.npz"


@dataclass(frozen=True)
class _Weights:
    stft: np.ndarray
    convs: tuple[tuple[np.ndarray, np.ndarray, int], ...]
    #: The LSTM's input and recurrent weights and bias, with its gates reordered to input, forget,
    #: output, cell and the first three halved: sigmoid(x) = (1 + tanh(x / 2)) / 2, one tanh for all.
    input_weights: np.ndarray
    recurrent_weights: np.ndarray
    bias: np.ndarray
    out_weights: np.ndarray
    out_bias: float


@functools.cache
def _weights() -> _Weights:
    with np.load(WEIGHTS) as data:
        w = {name: data[name].astype(np.float32) for name in data.files}

    def conv(name: str, stride: int) -> tuple[np.ndarray, np.ndarray, int]:
        kernel = w[f"{name}_weight"]  # (out, in, 3)
        flat = np.concatenate([kernel[:, :, k].T for k in range(kernel.shape[2])], axis=0)
        return np.ascontiguousarray(flat), w[f"{name}_bias"], stride

    order = np.r_[0:256, 384:512, 256:384]  # PyTorch's input, forget, cell, output -> i, f, o, cell
    half = np.r_[np.full(384, 0.5), np.ones(128)].astype(np.float32)
    return _Weights(
        stft=np.ascontiguousarray(w["stft"][:, 0, :].T),
        convs=(conv("conv1", 1), conv("conv2", 2), conv("conv3", 2), conv("conv4", 1)),
        input_weights=np.ascontiguousarray(w["lstm_weight_ih"][order].T * half),
        recurrent_weights=np.ascontiguousarray(w["lstm_weight_hh"][order].T * half),
        bias=(w["lstm_bias_ih"] + w["lstm_bias_hh"])[order] * half,
        out_weights=w["out_weight"][0, :, 0],
        out_bias=float(w["out_bias"][0]),
    )


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """A 1-D convolution of width 3, padding 1, over (chunks, time, channels), then ReLU."""
    length = x.shape[1]
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    out = (length - 1) // stride + 1
    columns = np.concatenate([padded[:, k : k + stride * (out - 1) + 1 : stride] for k in range(3)], axis=2)
    result: np.ndarray = np.maximum(columns @ kernel + bias, 0)
    return result


class Model:
    """Silero VAD run over consecutive 512-sample chunks of 16 kHz audio in [-1, 1], keeping its state
    (the LSTM's and the last 64 samples) from one call to the next."""

    def __init__(self) -> None:
        self.weights = _weights()
        self.reset()

    def reset(self, context: np.ndarray | None = None) -> None:
        """Starts afresh, after ``context`` (the CONTEXT samples before the next chunk) or silence."""
        self.hidden = np.zeros(128, np.float32)
        self.cell = np.zeros(128, np.float32)
        self.context = np.zeros(CONTEXT, np.float32) if context is None else context.astype(np.float32)

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """One probability of speech per 512 samples of ``audio`` (whose length is a multiple of 512)."""
        w = self.weights
        count = len(audio) // CHUNK
        if not count:
            return np.zeros(0, np.float32)
        samples = np.concatenate([self.context, audio[: count * CHUNK].astype(np.float32)])
        chunks = sliding_window_view(samples, CHUNK + CONTEXT)[::CHUNK][:count]
        # The model's own spectrum: four frames of 256 over the chunk, reflected at its end.
        padded = np.concatenate([chunks, chunks[:, -2 : -CONTEXT - 2 : -1]], axis=1)
        frames = sliding_window_view(padded, 256, axis=1)[:, ::128][:, :4]
        spectrum = frames @ w.stft
        x = np.sqrt(spectrum[..., :129] ** 2 + spectrum[..., 129:] ** 2)
        for kernel, bias, stride in w.convs:
            x = _conv(x, kernel, bias, stride)
        gates_in = x[:, 0, :] @ w.input_weights + w.bias
        hidden, cell = self.hidden, self.cell
        outputs = np.empty((count, 128), np.float32)
        gates = np.empty(512, np.float32)
        recurrent = w.recurrent_weights
        for step in range(count):
            np.dot(hidden, recurrent, out=gates)
            gates += gates_in[step]
            np.tanh(gates, out=gates)
            sigmoid = (gates[:384] + 1) * 0.5
            cell = sigmoid[128:256] * cell + sigmoid[:128] * gates[384:]
            hidden = sigmoid[256:384] * np.tanh(cell)
            outputs[step] = hidden
        self.hidden, self.cell = hidden, cell
        self.context = samples[-CONTEXT:].copy()
        logits = np.maximum(outputs, 0) @ w.out_weights + w.out_bias
        result: np.ndarray = 1 / (1 + np.exp(-logits))
        return result


def _two_sided_minimum(values: np.ndarray, width: int) -> np.ndarray:
    """The larger of the minimum over the ``width`` values up to each and over the ``width`` from it."""
    result: np.ndarray = np.maximum(
        running(values, width, np.minimum, ahead=False), running(values, width, np.minimum, ahead=True)
    )
    return result


def denoise_frames(frames: np.ndarray) -> np.ndarray:
    """The noise-filtered output of windowed frames (frames, FRAME), frame by frame: each frame's
    spectrum times a gain of 1 - OVERSUBTRACT x noise / power, no lower than GAIN_FLOOR, where the
    noise is the local floor of each bin (module docstring), taken over blocks of FLOOR_STEP frames
    from the first (so the caller starts at a multiple of FLOOR_STEP in its segment)."""
    spectra = np.fft.rfft(frames * _WINDOW, axis=1)
    power = spectra.real**2 + spectra.imag**2
    smoothed = moving_mean(power, SMOOTH_FRAMES).astype(np.float32)
    blocks = -(-len(power) // FLOOR_STEP)
    padded = np.concatenate([smoothed, np.repeat(smoothed[-1:], blocks * FLOOR_STEP - len(power), axis=0)])
    lowest = padded.reshape(blocks, FLOOR_STEP, -1).min(axis=1)
    floor = np.repeat(_two_sided_minimum(lowest, _NOISE_BLOCKS), FLOOR_STEP, axis=0)[: len(power)]
    noise = floor * np.float32(OVERSUBTRACT * 10 ** (FLOOR_BIAS_DB / 10))
    gain = np.maximum(1 - noise / np.maximum(power, np.float32(1e-20)), np.float32(GAIN_FLOOR))
    result: np.ndarray = np.fft.irfft(spectra * gain, n=FRAME, axis=1).astype(np.float32) * _WINDOW
    return result


def _first_frame_needed(done: int) -> int:
    """The first frame the piece starting at sample ``done`` of its segment needs: its first frame's
    reach before it, from a block of FLOOR_STEP."""
    first = max(0, done // HOP - 1)
    return max(0, (first - _REACH_FRAMES) // FLOOR_STEP * FLOOR_STEP)


@dataclass(frozen=True)
class ModelWindow:
    start: float
    end: float
    #: The model's mean probability of speech over the stretch.
    probability: float
    #: Its highest.
    peak: float


class ModelVoiceActivity:
    """Fed mono 16-bit PCM at 16 kHz a segment (a stretch without holes) at a time, in order; finds the
    stretches of speech the model hears in the noise-filtered audio. Holds at most a piece of audio
    and the filter's context, not the recording."""

    def __init__(self) -> None:
        self.found: list[ModelWindow] = []
        self.segment_time = 0.0
        self.samples = np.zeros(0, np.float32)
        self.pending: list[np.ndarray] = []
        self.pending_count = 0
        # The segment's sample index of self.samples[0]; the next sample to filter and hear.
        self.offset = 0
        self.done = 0
        self.model: Model | None = None
        # Whether the last chunk heard was loud: a loud run across two pieces keeps the model's state.
        self.loud_before = False
        # The stretch under way: its first chunk, the chunk after its last above OFF, the sum of its
        # probabilities to there and of the dip since.
        self.open_start: int | None = None
        self.open_end = 0
        self.probability_sum = 0.0
        self.dip_sum = 0.0
        self.peak = 0.0
        self.chunk = 0

    def start_segment(self, t: float) -> None:
        self.finish_segment()
        self.segment_time = t
        self.samples = np.zeros(0, np.float32)
        self.pending, self.pending_count = [], 0
        self.offset = self.done = self.chunk = 0
        self.loud_before = False
        self.model = Model()

    def feed(self, samples: np.ndarray) -> None:
        self.pending.append(samples)
        self.pending_count += len(samples)
        if self.offset + len(self.samples) + self.pending_count >= self._wanted:
            self._take_pending()
            while self._piece(final=False):
                pass

    @property
    def _wanted(self) -> int:
        """The samples the next piece needs to be in before it can be heard."""
        return self.done + PIECE_CHUNKS * CHUNK + (_REACH_FRAMES + 2) * HOP + FRAME

    def _take_pending(self) -> None:
        if self.pending:
            fresh = np.concatenate(self.pending).astype(np.float32) / 32768
            self.samples = np.concatenate([self.samples, fresh])
            self.pending, self.pending_count = [], 0

    def finish_segment(self) -> None:
        if self.model is not None:
            self._take_pending()
            while self._piece(final=True):
                pass
            self._close()
            self.model = None

    def _piece(self, *, final: bool) -> bool:
        """Filters and hears the next piece once its context is in (what is left when ``final``)."""
        assert self.model is not None
        end = self.offset + len(self.samples)
        last = self.done + PIECE_CHUNKS * CHUNK
        if not final and self._wanted > end:
            return False
        if final:
            last = min(last, -(-end // CHUNK) * CHUNK)
        if last <= self.done:
            return False
        # Frames k cover samples [k*HOP, k*HOP + FRAME); the piece's samples need frames first..final,
        # and their gains need _REACH_FRAMES more either side.
        first_frame = max(0, self.done // HOP - 1)
        last_frame = last // HOP - 1
        low = _first_frame_needed(self.done)
        high = last_frame + _REACH_FRAMES
        if low * HOP < self.offset:  # never: what a piece needs is kept (_first_frame_needed)
            raise RuntimeError("the voice model let go of audio it still needs")
        span = self.samples[low * HOP - self.offset : high * HOP + FRAME - self.offset]
        needed = (high - low) * HOP + FRAME
        if len(span) < needed:  # the segment's end: silence after it
            span = np.concatenate([span, np.zeros(needed - len(span), np.float32)])
        if final:
            # Frames wholly past the end are not noise; leave them out of the floor (frame k starts
            # at k*HOP, so the first of them is ceil(end / HOP)).
            high = min(high, max(last_frame, -(-end // HOP) - 1))
            span = span[: (high - low) * HOP + FRAME]
        count = (last - self.done) // CHUNK
        loud = self._loud(self.done // CHUNK, last // CHUNK)
        probabilities = np.zeros(count, np.float32)
        if loud.any():
            frames = sliding_window_view(span, FRAME)[::HOP][: high - low + 1]
            filtered = denoise_frames(frames)
            inner = filtered[first_frame - low : last_frame - low + 1]
            audio = np.zeros((last_frame - first_frame + 2) * HOP, np.float32)
            audio[:-HOP] += inner[:, :HOP].reshape(-1)
            audio[HOP:] += inner[:, HOP:].reshape(-1)
            start = self.done - first_frame * HOP
            audio = audio[start : start + last - self.done]
            edges = np.flatnonzero(np.diff(np.concatenate([[False], loud, [False]]).astype(np.int8)))
            for first, after in zip(edges[::2], edges[1::2], strict=True):
                # A run of loud chunks starts the model afresh, unless it goes on from the last piece.
                if first or not self.loud_before:
                    self.model.reset(audio[first * CHUNK - CONTEXT : first * CHUNK] if first else None)
                probabilities[first:after] = self.model.probabilities(audio[first * CHUNK : after * CHUNK])
        self.loud_before = bool(loud[-1])
        self._hear(probabilities)
        self.done = last
        keep = max(0, _first_frame_needed(self.done) * HOP - self.offset)
        self.samples, self.offset = self.samples[keep:], self.offset + keep
        return True

    def _loud(self, first: int, after: int) -> np.ndarray:
        """Which of the segment's chunks first..after-1 the model hears: those within
        LOUD_REACH_SECONDS of a chunk louder than LOUD_DB (from the raw audio, so the same whatever
        the pieces)."""
        reach = round(LOUD_REACH_SECONDS / CHUNK_SECONDS)
        low = max(0, first - reach)
        raw = self.samples[low * CHUNK - self.offset : (after + reach) * CHUNK - self.offset]
        count = -(-len(raw) // CHUNK)
        raw = np.concatenate([raw, np.zeros(count * CHUNK - len(raw), np.float32)])
        power = np.mean(np.square(raw.reshape(count, CHUNK), dtype=np.float64), axis=1)
        near = (power > 10 ** (LOUD_DB / 10)).astype(np.float64)
        near = np.maximum(
            running(near, reach + 1, np.maximum, ahead=False), running(near, reach + 1, np.maximum, ahead=True)
        )
        loud: np.ndarray = near[first - low : after - low] > 0
        return loud

    def _hear(self, probabilities: np.ndarray) -> None:
        pause = math.ceil(PAUSE_SECONDS / CHUNK_SECONDS)  # a dip of 10 chunks (0.32 s) ends it
        for p in probabilities.tolist():
            if self.open_start is None:
                if p >= ON:
                    self.open_start, self.open_end = self.chunk, self.chunk + 1
                    self.probability_sum, self.dip_sum, self.peak = p, 0.0, p
            elif p >= OFF:
                self.probability_sum += self.dip_sum + p
                self.dip_sum = 0.0
                self.peak = max(self.peak, p)
                self.open_end = self.chunk + 1
            elif self.chunk + 1 - self.open_end >= pause:
                self._close()
            else:
                self.dip_sum += p
            self.chunk += 1

    def _close(self) -> None:
        if self.open_start is None:
            return
        first, chunks = self.open_start, self.open_end - self.open_start
        self.open_start = None
        if chunks * CHUNK_SECONDS < MIN_SPEECH_SECONDS:
            return
        self.found.append(
            ModelWindow(
                start=max(self.segment_time, self.segment_time + first * CHUNK_SECONDS - PAD_SECONDS),
                end=self.segment_time + self.open_end * CHUNK_SECONDS + PAD_SECONDS,
                probability=round(self.probability_sum / chunks, 3),
                peak=round(self.peak, 3),
            )
        )

    def windows(self) -> list[ModelWindow]:
        self.finish_segment()
        return list(self.found)


def model_evidence(windows: list[ModelWindow]) -> list[Evidence]:
    """The model's stretches as speech evidence whose strength is their mean probability: the exam's
    sensitivity decides which probability is enough (rules.Thresholds.speech_probability)."""
    return [
        Evidence(
            Kind.SPEECH,
            window.start,
            window.end,
            window.probability,
            window.start,
            {"speech_probability": window.probability},
            strength=window.probability,
            measure=SPEECH_PROBABILITY,
        )
        for window in windows
    ]
