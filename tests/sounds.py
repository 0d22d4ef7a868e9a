"""Test sounds with known ground truth for the voice-activity detector: steady noises of several
families (white, pink, brown, mains hum, fans, quiet instrumental music, traffic rumble), sounds that
are neither steady nor speech (typing), speech from espeak-ng, and recordings that mix them with level
changes.

Pure numpy and deterministic by seed (espeak-ng is deterministic too). The families come in two
halves: the detector's constants are chosen on the development half only, and the held-back half
(other noise variants, voices and sentences) checks that they generalise. Used by
``tests/analysis/test_speech.py``, and meant for the scenario set and the benchmarks as well.
"""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

RATE = 16_000

#: Noise families the detector is tuned on, and the ones kept back to check that it generalises.
DEV_NOISES = ("white", "pink", "hum50", "fan_a", "music_a", "typing_a")
HELD_BACK_NOISES = ("brown", "hum60", "fan_b", "music_b", "traffic", "typing_b")

#: espeak-ng voices (language plus variant), split the same way.
DEV_VOICES = ("en", "en-us")
HELD_BACK_VOICES = ("en+f3", "en-gb-x-rp+m3")

DEV_SENTENCES = (
    "The answer to question four is the second option.",
    "Can you tell me what you wrote for the integral?",
    "I think the derivative is two x plus three.",
    "Read me the next question please.",
    "We have twenty minutes left, so hurry up with part b.",
    "Look at the table on page seven and add the first column.",
)
HELD_BACK_SENTENCES = (
    "Which formula did they give us for the area of a circle?",
    "Just write down that the reaction releases heat.",
    "My notes say the capital of Australia is Canberra.",
    "Hold on, let me check the second paragraph again.",
    "Multiply both sides by four and then subtract nine.",
    "Nobody will notice if you whisper the last answer.",
)

#: Speech is scaled so that its active level (the RMS of its 10 ms frames within 40 dB of the loudest,
#: pauses left out) is this, in dBFS: a normal talking level close to a laptop microphone.
SPEECH_DB = -20.0


def db_rms(samples: np.ndarray) -> float:
    """The RMS level of ``samples`` in dBFS."""
    return float(20 * np.log10(max(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))), 1e-12)))


def db_to_amplitude(db: float | np.ndarray) -> float | np.ndarray:
    return 10 ** (np.asarray(db) / 20) if isinstance(db, np.ndarray) else float(10 ** (db / 20))


def _scaled(samples: np.ndarray, level_db: float) -> np.ndarray:
    return (samples * (10 ** (level_db / 20) / 10 ** (db_rms(samples) / 20))).astype(np.float32)


# --- Noises -------------------------------------------------------------------------------------------


def shaped_noise(
    seconds: float, shape: Callable[[np.ndarray], np.ndarray], rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise whose amplitude spectrum is ``shape(frequencies in Hz)``, at an arbitrary level.

    Made in independent one-second blocks cross-faded with power-complementary (sine and cosine)
    windows, so the noise is stationary and an hour of it needs no hour-long FFT."""
    total = int(round(seconds * rate))
    block = 1 << int(np.ceil(np.log2(rate)))
    hop = block // 2
    count = total // hop + 2
    gains = shape(np.fft.rfftfreq(block, 1 / rate)).astype(np.float64)
    window = np.sin(np.pi * (np.arange(block) + 0.5) / block)
    out = np.zeros((count + 1) * hop)
    for index in range(count):
        spectrum = rng.normal(size=block // 2 + 1) + 1j * rng.normal(size=block // 2 + 1)
        out[index * hop : index * hop + block] += np.fft.irfft(spectrum * gains, block) * window
    return out[hop : hop + total].astype(np.float32)


def _band(frequencies: np.ndarray, low: float, high: float, order: int = 2) -> np.ndarray:
    """A smooth band-pass magnitude response (Butterworth-like slopes of ``order`` x 6 dB/octave)."""
    f = np.maximum(frequencies, 1e-3)
    return np.asarray(1 / np.sqrt((1 + (low / f) ** (2 * order)) * (1 + (f / high) ** (2 * order))))


def _tones(seconds: float, rate: int, partials: Sequence[tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """A sum of steady sine partials (frequency Hz, amplitude) with random phases."""
    t = np.arange(int(round(seconds * rate))) / rate
    out = np.zeros(len(t))
    for frequency, amplitude in partials:
        if frequency < rate / 2:
            out += amplitude * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
    return out


def _white(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=int(round(seconds * rate))).astype(np.float32)


def _pink(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    return shaped_noise(seconds, lambda f: _band(f, 20, rate / 2, 1) / np.sqrt(np.maximum(f, 20)), rate, rng)


def _brown(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    return shaped_noise(seconds, lambda f: _band(f, 15, rate / 2, 1) / np.maximum(f, 15), rate, rng)


def _hum(fundamental: float, amplitudes: Sequence[float], hiss_db: float) -> Callable[..., np.ndarray]:
    """Mains hum: harmonics of ``fundamental`` with the given amplitudes, over the microphone's own
    hiss ``hiss_db`` below the hum."""

    def make(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
        hum = _tones(seconds, rate, [(fundamental * (k + 1), a) for k, a in enumerate(amplitudes)], rng)
        hiss = rng.normal(size=len(hum)) * db_to_amplitude(db_rms(hum) + hiss_db)
        return (hum + hiss).astype(np.float32)

    return make


def _fan(centre: float, width: float, blade_hz: float, blade_db: float, shaft_hz: float) -> Callable[..., np.ndarray]:
    """A fan: broadband air noise in a band around ``centre`` Hz (over a pink background), a blade-pass
    tone with two harmonics ``blade_db`` below the noise, and a slight wobble at the shaft rate."""

    def make(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
        def shape(f: np.ndarray) -> np.ndarray:
            background = _band(f, 30, rate / 2, 1) / np.sqrt(np.maximum(f, 30) / 30)
            return np.asarray(_band(f, centre / width, centre * width, 2) + 0.15 * background)

        air = shaped_noise(seconds, shape, rate, rng).astype(np.float64)
        air /= np.sqrt(np.mean(air**2))
        t = np.arange(len(air)) / rate
        air *= 1 + 0.08 * np.sin(2 * np.pi * shaft_hz * t + rng.uniform(0, 2 * np.pi))
        tone = _tones(seconds, rate, [(blade_hz, 1.0), (2 * blade_hz, 0.5), (3 * blade_hz, 0.25)], rng)
        tone *= db_to_amplitude(blade_db) / max(float(np.sqrt(np.mean(tone**2))), 1e-12)
        return np.asarray(air + tone[: len(air)], np.float32)

    return make


def _traffic(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Traffic through a window: low rumble (most of it under 300 Hz) with tyre hiss, swelling by
    6-14 dB over a few seconds as each vehicle passes."""
    rumble = shaped_noise(seconds, lambda f: _band(f, 25, 250, 2) + 0.1 * _band(f, 600, 3000, 1), rate, rng)
    t = np.arange(len(rumble)) / rate
    swell_db = np.zeros(len(t))
    at = rng.uniform(0, 4)
    while at < seconds + 5:
        width, height = rng.uniform(1.5, 4.0), rng.uniform(6, 14)
        swell_db = np.maximum(swell_db, height * np.exp(-0.5 * ((t - at) / width) ** 2))
        at += rng.uniform(4, 12)
    return (rumble * db_to_amplitude(swell_db)).astype(np.float32)


def _typing(*, keys_per_second: float, click_ms: float, release: bool, ring_hz: float) -> Callable[..., np.ndarray]:
    """Someone typing, over a quiet room (hiss 45 dB under the strikes): words of 2 to 9 keys at about
    ``keys_per_second``, with pauses of 0.2 to 1.5 s between them. Each strike is a burst of broadband
    noise dying away over ``click_ms`` with a knock of the keyboard's body (a damped resonance between
    150 and 400 Hz); ``release`` adds the key's release click 50-120 ms later, as a mechanical keyboard
    makes, and ``ring_hz`` a spring's ping around that frequency on each strike."""

    def make(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
        total = int(round(seconds * rate))
        out = rng.normal(size=total) * db_to_amplitude(-45.0)
        t = np.arange(int(0.08 * rate)) / rate

        def strike(at: float, gain: float, *, ring: bool) -> None:
            sound = rng.normal(size=len(t)) * np.exp(-t / (click_ms / 1000))
            sound += 0.6 * np.sin(2 * np.pi * rng.uniform(150, 400) * t) * np.exp(-t / 0.008)
            if ring:
                sound += 0.3 * np.sin(2 * np.pi * ring_hz * rng.uniform(0.9, 1.1) * t) * np.exp(-t / 0.02)
            start = int(round(at * rate))
            piece = sound[: max(0, total - start)]
            out[start : start + len(piece)] += gain * piece

        at = rng.uniform(0, 0.5)
        while at < seconds:
            for _ in range(int(rng.integers(2, 10))):
                gain = db_to_amplitude(float(rng.uniform(-6, 0)))
                strike(at, gain, ring=ring_hz > 0)
                if release:
                    strike(at + rng.uniform(0.05, 0.12), 0.5 * gain, ring=False)
                at += rng.exponential(1 / keys_per_second) + 0.05
            at += rng.uniform(0.2, 1.5)
        return out.astype(np.float32)

    return make


#: Semitones of the major and natural minor scales.
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def _note_frequency(midi: float) -> float:
    return float(440 * 2 ** ((midi - 69) / 12))


def _music(tonic: int, scale: tuple[int, ...], beat: float, chords: str, melody: str) -> Callable[..., np.ndarray]:
    """Quiet instrumental music with no voice, in the key of MIDI note ``tonic``: a low chord every two
    beats and a melody note on every beat. Each part is played ``"held"`` (organ-like: the note
    sounds unchanged until the next) or ``"plucked"`` (a sharp attack, then upper partials dying away
    faster than the fundamental, as on a piano or a guitar)."""
    progressions = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4))

    def sound(frequency: float, length: float, rate: int, bright: float, timbre: str) -> np.ndarray:
        t = np.arange(int(round(length * rate))) / rate
        note = np.zeros(len(t))
        for k in range(1, 7):
            decay = np.exp(-t * (2.0 + 1.5 * k)) if timbre == "plucked" else 1.0
            note += (bright**k / k) * np.sin(2 * np.pi * k * frequency * t) * decay
        attack = np.minimum(t / (0.005 if timbre == "plucked" else 0.03), 1)
        release = np.minimum((length - t) / 0.05, 1)
        return note * attack * release

    def make(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(int(round(seconds * rate)) + 4 * rate)
        notes: dict[tuple[int, float, float, str], np.ndarray] = {}

        def place(midi: int, at: float, length: float, *, gain: float, bright: float, timbre: str) -> None:
            key = (midi, round(length, 3), bright, timbre)
            if key not in notes:
                notes[key] = sound(_note_frequency(midi), length, rate, bright, timbre)
            start = int(round(at * rate))
            piece = notes[key][: len(out) - start]
            out[start : start + len(piece)] += gain * piece

        def degree(step: int) -> int:
            return tonic + 12 * (step // 7) + scale[step % 7]

        progression = progressions[int(rng.integers(len(progressions)))]
        tune = int(rng.integers(7, 12))
        at, bar = 0.0, 0
        while at < seconds:
            root = progression[bar % len(progression)]
            for third in (0, 2, 4):
                place(degree(root + third) - 12, at, 2 * beat, gain=0.35, bright=0.5, timbre=chords)
            for half in (0, 1):
                tune = int(np.clip(tune + rng.choice((-2, -1, 1, 2)), 6, 13))
                place(degree(tune), at + half * beat, beat, gain=0.5, bright=0.6, timbre=melody)
            at += 2 * beat
            bar += 1
        return out[: int(round(seconds * rate))].astype(np.float32)

    return make


_GENERATORS: dict[str, Callable[[float, int, np.random.Generator], np.ndarray]] = {
    "white": _white,
    "pink": _pink,
    "brown": _brown,
    # 50 Hz mains: odd harmonics strongest, as a transformer's buzz, over hiss 35 dB down.
    "hum50": _hum(50, (1.0, 0.3, 0.6, 0.15, 0.35, 0.1, 0.2, 0.05, 0.1, 0.03, 0.05), -35),
    # 60 Hz mains: a strong 120 Hz buzz and harmonics reaching into the speech band, hiss 45 dB down.
    "hum60": _hum(60, (0.6, 1.0, 0.3, 0.5, 0.15, 0.3, 0.08, 0.15, 0.05, 0.1, 0.03, 0.06, 0.02, 0.04), -45),
    # A desk fan: air noise around 500 Hz, seven blades at 18 rev/s.
    "fan_a": _fan(500, 2.5, 7 * 18, -6, 18),
    # A laptop or server fan: higher and narrower, nine blades at 31 rev/s.
    "fan_b": _fan(1400, 1.8, 9 * 31, -3, 31),
    # C major at 120 bpm: held organ chords under a plucked tune.
    "music_a": _music(60, MAJOR, 0.5, chords="held", melody="plucked"),
    # A minor at 84 bpm: plucked piano chords under a held tune.
    "music_b": _music(57, MINOR, 60 / 84, chords="plucked", melody="held"),
    "traffic": _traffic,
    # A laptop's keyboard: soft short clicks, fast typing.
    "typing_a": _typing(keys_per_second=7, click_ms=3, release=False, ring_hz=0),
    # A mechanical keyboard: longer clicks, a release click after each strike and a spring's ping.
    "typing_b": _typing(keys_per_second=5, click_ms=6, release=True, ring_hz=3200),
}

NOISES = tuple(_GENERATORS)


def noise(kind: str, seconds: float, level_db: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """``seconds`` of the noise ``kind`` (one of ``NOISES``) with an RMS level of ``level_db`` dBFS, as
    float32 samples."""
    rng = np.random.default_rng([seed, NOISES.index(kind)])
    return _scaled(_GENERATORS[kind](seconds, rate, rng), level_db)


# --- Speech -------------------------------------------------------------------------------------------


@cache
def _espeak(sentence: str, voice: str, words_per_minute: int, pitch: int) -> tuple[int, np.ndarray]:
    out = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), sentence],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64) / 32768
        return wav.getframerate(), data


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """Band-limited resampling through the FFT (fine for sounds of a few seconds)."""
    if source_rate == rate:
        return samples.astype(np.float64)
    count = int(round(len(samples) * rate / source_rate))
    spectrum = np.fft.rfft(samples)
    kept = np.zeros(count // 2 + 1, complex)
    n = min(len(kept), len(spectrum))
    kept[:n] = spectrum[:n]
    return np.fft.irfft(kept, count) * (count / len(samples))


def _sounding(samples: np.ndarray, rate: int, below_peak_db: float = 40.0) -> np.ndarray:
    """Which 10 ms frames sound: within ``below_peak_db`` of the loudest frame."""
    step = rate // 100
    frames = samples[: len(samples) // step * step].reshape(-1, step)
    levels = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    return np.asarray(levels > levels.max() - below_peak_db)


def _trimmed(samples: np.ndarray, rate: int) -> np.ndarray:
    sounding = np.flatnonzero(_sounding(samples, rate))
    step = rate // 100
    return samples[sounding[0] * step : (sounding[-1] + 1) * step]


def speech(
    seconds: float,
    voice: str = "en",
    *,
    rate: int = RATE,
    seed: int = 0,
    sentences: Sequence[str] = DEV_SENTENCES,
    level_db: float = SPEECH_DB,
) -> np.ndarray:
    """At least ``seconds`` of one person talking (sentences picked by ``seed`` from ``sentences``,
    at a speed and pitch picked by ``seed``, short pauses between them), at an active level of
    ``level_db`` dBFS. It starts on its first sound and ends on a sound: cut at ``seconds``, or a
    little later when that falls in a pause."""
    rng = np.random.default_rng(seed)
    words_per_minute, pitch = int(rng.integers(140, 186)), int(rng.integers(30, 71))
    order = rng.permutation(len(sentences))
    pieces: list[np.ndarray] = []
    total = 0
    for index in range(10 * len(sentences)):
        source_rate, data = _espeak(sentences[order[index % len(order)]], voice, words_per_minute, pitch)
        spoken = _trimmed(resample(data, source_rate, rate), rate)
        pause = np.zeros(int(rng.uniform(0.25, 0.45) * rate))
        pieces += [spoken, pause]
        total += len(spoken) + len(pause)
        if total >= seconds * rate + rate:
            break
    talk = np.concatenate(pieces)
    sounding = np.repeat(_sounding(talk, rate), rate // 100)
    end = int(seconds * rate)
    while end < len(sounding) and not sounding[end - 1]:
        end += 1
    talk = talk[:end]
    active = talk[: len(sounding)][sounding[: len(talk)]]
    return _scaled(talk, level_db - db_rms(active) + db_rms(talk))


# --- Recordings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """A microphone recording with what is in it."""

    samples: np.ndarray
    rate: int
    noise: str
    #: (from second, noise level dBFS), in order: the noise steps to each level at its second.
    levels: tuple[tuple[float, float], ...]
    #: (start, end) seconds of each stretch of speech, first sound to last.
    speech: tuple[tuple[float, float], ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def pcm16(self) -> np.ndarray:
        """The samples as 16-bit PCM, as the decoder hands them to the detector."""
        return np.asarray(np.clip(self.samples, -1, 1) * 32767, np.int16)


def recording(
    kind: str,
    *,
    seconds: float,
    levels: Sequence[tuple[float, float]],
    talk: Sequence[tuple[float, float]] = (),
    voice: str = "en",
    sentences: Sequence[str] = DEV_SENTENCES,
    speech_db: float = SPEECH_DB,
    rate: int = RATE,
    seed: int = 0,
) -> Recording:
    """``seconds`` of the noise ``kind`` whose level steps to ``levels[i][1]`` dBFS at second
    ``levels[i][0]`` (the first step at 0), with someone talking for ``duration`` seconds from each
    ``(start, duration)`` of ``talk`` (in ``voice``, saying ``sentences``, at ``speech_db``). A level
    of -inf is silence. The same arguments give the same recording."""
    steady = noise(kind, seconds, 0.0, rate, seed).astype(np.float64)
    gain = np.zeros(len(steady))
    for start, level in levels:
        gain[int(round(start * rate)) :] = db_to_amplitude(level) if np.isfinite(level) else 0.0
    audio = steady * gain
    spans = []
    for index, (start, duration) in enumerate(talk):
        talking = speech(duration, voice, rate=rate, seed=seed * 101 + index, sentences=sentences, level_db=speech_db)
        first = int(round(start * rate))
        piece = talking[: max(0, len(audio) - first)]
        audio[first : first + len(piece)] += piece
        spans.append((start, start + len(piece) / rate))
    return Recording(audio.astype(np.float32), rate, kind, tuple(levels), tuple(spans))
