"""Voice activity on the webcam's audio: when someone was speaking, and nothing about who or what.

Pure code: PCM in, time ranges out, no Django. Per 16 ms frame only the power in 32 bands of the
speech band (300-3400 Hz), the share of it in steady tones, how periodic the frame is and its level
are kept. A frame
is speech when, at once:

- its three loudest bands stand above their LOCAL noise floor: per band, the minimum power of the
  two seconds before or of the two seconds after, whichever is larger, so a steady noise is its own
  floor and a step in its level is followed from either side. How far above, in dB, is the margin
  the rules compare with the exam's speech_margin_db;
- those bands come and go at the pace of syllables: the margin is capped at how far they rise above
  their lowest within 0.3 s either side, which a swell, or a noise stepping up and back down, lacks;
- it is not mostly steady tones (a bin whose phase advance holds for 64 ms): music, mains hum, a
  fan's whine; a voice's pitch and formants keep moving for longer than a note's onset;
- a voice sounded near it: within 0.3 s, VOICED_FRAMES frames in a row are periodic at a pitch
  between 80 and 400 Hz (the 200-2000 Hz band's autocorrelation). Vowels are; typing, a cough, a
  door or paper are not, however they rise and fall. A whisper, which has no pitch, is not found.

A stretch runs from 0.3 s before its first such frame to 0.6 s after its last, bridging the dips
between syllables and words. Constants were set on the development half of tests/sounds.py only.
At a talking level of -20 dBFS, this detector alone finds speech at standard sensitivity over noise
5 dB under it, over white noise up to 5 dB louder than it (most sentences) and pink noise 2 dB
louder, and over mains hum louder than it; under pink noise or a fan 5 dB louder, or music, it
loses most (no band then clears 10 dB, or the music's tones gate the frames out). So a second
detector hears the same audio: a learned voice model through a noise filter (analysis/voicemodel.py),
and VoiceActivity.evidence() gives both detectors' stretches, which the rules merge. About 3
CPU-seconds and 16 MB kept per recorded hour for this detector. WebRTC's detector is not used: on
every noise tried it called every frame speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from analysis.rules import Evidence, Kind
from analysis.running import moving_mean as _moving_mean
from analysis.running import running as _running
from analysis.voicemodel import ModelVoiceActivity, model_evidence

RATE = 16_000
#: Analysis frames: 32 ms (a 512-point FFT, 31 Hz bins), every 16 ms.
FRAME = 512
HOP = 256
FRAME_SECONDS = HOP / RATE
#: The speech band, cut into this many bands equally spaced on the mel scale: one or two FFT bins
#: each at the bottom, so that a voice's harmonics and formants stand out of a broadband noise as loud
#: as the voice, where in wider bands the noise between them drowns them (with 16 bands, half the
#: sentences under pink noise 2 dB over the voice were lost, and all at 5 dB).
LOW_HZ, HIGH_HZ, BANDS = 300.0, 3400.0, 32
#: Band power is averaged over this many frames before anything else (80 ms): it steadies the noise
#: floor and the margin, and a vowel lasts longer than that. Narrow bands need the longer average:
#: with it, steady noise in 32 bands stands as far above its floor's minimum as in 16 bands over 48 ms,
#: so FLOOR_BIAS_DB and the exam's margins keep their meaning.
SMOOTH_FRAMES = 5
#: Each side's window of the minimum-statistics noise floor.
NOISE_WINDOW_SECONDS = 2.0
#: The minimum of steady noise's power over a window sits below its mean: the margin of steady noise
#: comes out near 0 dB once this is taken off (measured on white noise of the development set).
FLOOR_BIAS_DB = 3.5
#: Syllabic modulation: a band counts only as far as it rises above its lowest within this long
#: before and after (a syllable lasts less, a swell or a short step in a noise more).
SYLLABLE_SECONDS = 0.3
#: A floor is never taken as quieter than white noise at this level: below it is silence.
QUIET_DB = -70.0
#: A frame's margin is the mean margin of its this many loudest bands (speech's energy gathers in
#: formants: a few bands well above the floor, not all of them a little).
TOP_BANDS = 3
#: A bin holds a steady tone when its phase advance from one frame to the next comes back within
#: TONE_TOLERANCE radians TONE_LAG_FRAMES frames later (or earlier). A frame's share of steady power is
#: averaged over TONE_SMOOTH_FRAMES frames; above TONAL_SHARE the frame is tonal, and only runs of at
#: least UNSTEADY_FRAMES frames that are not tonal can be speech. Looser settings let held and plucked
#: notes through; stricter ones lose a voice over music.
TONE_LAG_FRAMES = 4
TONE_TOLERANCE = 0.3
TONE_SMOOTH_FRAMES = 5
TONAL_SHARE = 0.5
UNSTEADY_FRAMES = 8
#: Voicing: a frame is periodic when the autocorrelation of its VOICING_LOW_HZ-VOICING_HIGH_HZ band
#: (where a voice's harmonics are strong and a key's ping is not), corrected for the window, reaches
#: PERIODIC at a lag of one pitch period (PITCH_LOW_HZ to PITCH_HIGH_HZ). A vowel is periodic for
#: VOICED_FRAMES frames in a row (80 ms) where a knock or a click is for one or two; a frame can be
#: speech only within VOICING_REACH_SECONDS of such a run, which keeps the consonants around vowels.
VOICING_LOW_HZ, VOICING_HIGH_HZ = 200.0, 2000.0
PITCH_LOW_HZ, PITCH_HIGH_HZ = 80.0, 400.0
PERIODIC = 0.5
SUSTAINED_HALVES_DB = 6.0
VOICED_FRAMES = 4
VOICING_REACH_SECONDS = 0.3
#: A frame counts as speech when it stays above the margin for this many frames.
SUSTAIN_FRAMES = 3
#: A stretch of speech starts this long before its first counting frame and ends this long after its
#: last: a syllable's soft start and end sink in the noise before its loud middle does, and gaps
#: shorter than the two together (the pauses between words) are bridged.
LEAD_SECONDS = 0.3
HANGOVER_SECONDS = 0.6
#: Margins are reported in steps of this many dB, rounded up, and capped: no sensitivity asks for more.
#: Rounded up because a sensitivity's margin must be exceeded (rules.Thresholds.passes): a window 10.6 dB
#: over its floor is reported as 11 and passes a margin of 10, as it should; rounded down it was 10 and
#: failed, which made every whole-dB margin act 1 dB stricter than it says.
MARGIN_STEP_DB = 1.0
MARGIN_CAP_DB = 40.0

#: Audio that jumps by more than this from where the previous audio ended (a lost chunk) restarts the
#: timeline at the new timestamp, so later speech is not placed too early.
RESYNC_SECONDS = 0.5
#: Audio is framed in blocks of this many samples, and frames are turned into speech in pieces of
#: this many: vectorised work on arrays that stay small.
BLOCK = 2 * RATE
CHUNK_FRAMES = 15_000


def _band_edges() -> np.ndarray:
    mel = np.linspace(2595 * np.log10(1 + LOW_HZ / 700), 2595 * np.log10(1 + HIGH_HZ / 700), BANDS + 1)
    hz = 700 * (10 ** (mel / 2595) - 1)
    return np.round(hz * FRAME / RATE).astype(int)


_EDGES = _band_edges()
#: FFT bins of the speech band, and where each band starts among them.
_FIRST_BIN, _LAST_BIN = int(_EDGES[0]), int(_EDGES[-1])
_BAND_STARTS = _EDGES[:-1] - _FIRST_BIN
_BAND_WIDTHS = np.diff(_EDGES).astype(np.float64)
_WINDOW = np.hanning(FRAME)
#: Band power is the mean power per bin divided by this: white noise of RMS level L dBFS then has a
#: band level of L dB in every band.
_POWER_SCALE = float(np.sum(_WINDOW**2))
#: Voicing reads the frame's own spectrum: its autocorrelation (which wraps around the frame, as does
#: the window's it is divided by) sampled at _LAG_RATE, enough for a band that ends at 2 kHz.
_LAG_RATE = 8_000
_VOICING_BINS = slice(int(np.ceil(VOICING_LOW_HZ * FRAME / RATE)), int(VOICING_HIGH_HZ * FRAME / RATE) + 1)
_LAG_POINTS = FRAME * _LAG_RATE // RATE
_PITCH_LAGS = slice(int(_LAG_RATE / PITCH_HIGH_HZ), int(_LAG_RATE / PITCH_LOW_HZ) + 1)


def _lags(power: np.ndarray) -> np.ndarray:
    """Autocorrelations from power spectra (rows) of the voicing band, at _LAG_RATE, up to the longest
    pitch lag."""
    band = np.zeros((*power.shape[:-1], _LAG_POINTS // 2 + 1))
    band[..., _VOICING_BINS] = power[..., _VOICING_BINS]
    lags: np.ndarray = np.fft.irfft(band, _LAG_POINTS, axis=-1)[..., : _PITCH_LAGS.stop]
    return lags


_WINDOW_LAGS = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW)) ** 2)[:: RATE // _LAG_RATE][: _PITCH_LAGS.stop]
_WINDOW_LAGS = _WINDOW_LAGS / _WINDOW_LAGS[0]


@dataclass(frozen=True)
class SpeechWindow:
    start: float
    end: float
    #: Share of the window's frames that count as speech by themselves (the rest are bridged).
    share: float
    #: The margin over the local noise floor (dB) up to which the window still counts as speech.
    margin_db: float
    #: The loudest frame's level in the window (dBFS RMS, whole band).
    level_db: float
    #: The local noise floor under the window: the level (dBFS) of a white noise that would put the
    #: same power into the speech band.
    floor_db: float


@dataclass(frozen=True)
class _Segment:
    """A stretch of audio without holes: its first frame's index and its media time."""

    first: int
    time: float


#: What is kept of each frame: its band levels (dB), the share of its power in steady tones, its
#: periodicity and its level (dBFS), as float16.
_FEATURES = BANDS + 3
_TONAL, _PERIODIC, _LEVEL = BANDS, BANDS + 1, BANDS + 2


class VoiceActivity:
    """Fed mono 16-bit PCM at 16 kHz in order; finds the stretches of speech over ``min_margin_db`` as
    it goes. Keeps the features of the frames it has not turned into speech yet (35 half-precision
    numbers per 16 ms frame, a piece of CHUNK_FRAMES and its context at most), a few frames' spectra,
    and the noise floor of every frame (1.8 MB per recorded hour): never the audio, and never the whole
    recording's features, so its memory does not grow with the recording."""

    def __init__(self, *, min_margin_db: float) -> None:
        self.min_margin_db = min_margin_db
        self.segments: list[_Segment] = []
        self.pending: list[np.ndarray] = []
        self.pending_samples = 0
        self.cursor: float | None = None
        self.samples = 0
        self.frames = 0
        # The current segment's features from frame ``kept_from`` on, and the first frame not yet
        # turned into speech; what was found so far, and the local noise floor of every frame.
        self.kept: list[np.ndarray] = []
        self.kept_from = 0
        self.next_piece = 0
        self.found: list[SpeechWindow] = []
        self.floors: list[np.ndarray] = []
        # The current segment's samples not yet framed, and the speech-band spectra and levels of its
        # last frames: a frame's steadiness needs the frames either side of it.
        self.tail = np.zeros(0)
        self.spectra = np.zeros((0, _LAST_BIN - _FIRST_BIN), np.complex128)
        self.loudness = np.zeros(0)
        self.periodicity = np.zeros(0)
        self.done_in_segment = 0
        # The second opinion, heard through a noise filter (analysis/voicemodel.py).
        self.model = ModelVoiceActivity()

    def feed(self, t: float, samples: np.ndarray) -> None:
        if self.cursor is None or abs(t - self.cursor) > RESYNC_SECONDS:
            self._analyse(final=True)
            self.segments.append(_Segment(self.frames, t))
            self.kept, self.kept_from, self.next_piece = [], self.frames, self.frames
            self.tail = np.zeros(0)
            self.spectra, self.loudness, self.periodicity = self.spectra[:0], self.loudness[:0], self.periodicity[:0]
            self.done_in_segment = 0
            self.cursor = t
            self.model.start_segment(t)
        self.model.feed(samples)
        self.pending.append(samples)
        self.pending_samples += len(samples)
        self.samples += len(samples)
        self.cursor += len(samples) / RATE
        if self.pending_samples >= BLOCK:
            self._analyse(final=False)

    def _analyse(self, *, final: bool) -> None:
        """Frames the pending samples, keeps the features of every frame whose neighbours are in (of all
        of them when ``final``: the segment has ended), and turns those it can into speech."""
        if self.pending:
            samples = np.concatenate([self.tail, np.concatenate(self.pending).astype(np.float64) / 32768])
            self.pending, self.pending_samples = [], 0
            count = max(0, (len(samples) - FRAME) // HOP + 1)
            if count:
                frames = sliding_window_view(samples, FRAME)[::HOP][:count]
                spectra = np.fft.rfft(frames * _WINDOW, axis=1)
                power = np.abs(spectra) ** 2
                # Parseval: the windowed frame's mean square, from its one-sided spectrum.
                total = (2 * np.sum(power, axis=1) - power[:, 0] - power[:, -1]) / FRAME / _POWER_SCALE
                self.spectra = np.concatenate([self.spectra, spectra[:, _FIRST_BIN:_LAST_BIN]])
                self.loudness = np.concatenate([self.loudness, 10 * np.log10(np.maximum(total, 1e-13))])
                self.periodicity = np.concatenate([self.periodicity, _periodicity(frames, power)])
            self.tail = samples[count * HOP :]
        lag = TONE_LAG_FRAMES + 1
        waiting = 0 if final else lag
        context = min(self.done_in_segment, lag)
        ready = len(self.spectra) - context - waiting
        if ready > 0:
            self._features(slice(context, context + ready), keep=slice(-(lag + waiting), None))
        self._speech(final=final)

    def _features(self, chosen: slice, *, keep: slice) -> None:
        """Keeps the features of the ``chosen`` frames of the spectra held, then only the ``keep`` ones."""
        ready = chosen.stop - chosen.start
        power = np.abs(self.spectra) ** 2
        bands = np.add.reduceat(power[chosen], _BAND_STARTS, axis=1) / _BAND_WIDTHS / _POWER_SCALE
        steady = _steady(self.spectra)[chosen]
        share = np.sum(power[chosen] * steady, axis=1) / np.maximum(np.sum(power[chosen], axis=1), 1e-30)
        block = np.empty((ready, _FEATURES), np.float16)
        block[:, :BANDS] = 10 * np.log10(np.maximum(bands, 1e-13))
        block[:, _TONAL] = share
        block[:, _PERIODIC] = self.periodicity[chosen]
        block[:, _LEVEL] = self.loudness[chosen]
        self.kept.append(block)
        self.frames += ready
        self.done_in_segment += ready
        self.spectra, self.loudness, self.periodicity = self.spectra[keep], self.loudness[keep], self.periodicity[keep]

    def _speech(self, *, final: bool) -> None:
        """Turns the current segment's frames into speech, in pieces with enough context either side
        that every frame comes out as it would from the whole segment at once: each piece once its
        context has been recorded (all that is left when ``final``: the segment has ended)."""
        if not self.segments:
            return
        segment, end, context = self.segments[-1], self.frames, _context_frames()
        if self.next_piece >= end or not (final or self.next_piece + CHUNK_FRAMES + context <= end):
            return
        kept = np.concatenate(self.kept)
        while self.next_piece < end and (final or self.next_piece + CHUNK_FRAMES + context <= end):
            first = self.next_piece
            last = min(first + CHUNK_FRAMES, end)
            low, high = max(segment.first, first - context), min(end, last + context)
            piece = kept[low - self.kept_from : high - self.kept_from].astype(np.float64)
            strength, voiced, floor = frame_strengths(piece[:, :BANDS], piece[:, _TONAL], piece[:, _PERIODIC])
            inner = slice(first - low, last - low)
            times = segment.time + np.arange(first - segment.first, last - segment.first) * FRAME_SECONDS
            self.found += _windows(
                times,
                strength=strength[inner],
                voiced=voiced[inner],
                floor=floor[inner],
                level=piece[inner, _LEVEL],
                min_margin_db=self.min_margin_db,
            )
            self.floors.append(floor[inner])
            self.next_piece = last
        # What the next piece will still look back at is kept; the rest is done with.
        drop = max(0, self.next_piece - context - self.kept_from)
        self.kept, self.kept_from = [kept[drop:]], self.kept_from + drop

    def windows(self) -> tuple[list[SpeechWindow], float]:
        """Stretches of speech at a margin of more than ``min_margin_db`` over the local noise floor,
        cut where their margin changes, each with the largest margin it passes; and the median of the
        local noise floor (dBFS, as SpeechWindow.floor_db). A hole in the audio restarts the analysis."""
        self._analyse(final=True)
        if not self.frames:
            return [], QUIET_DB
        return list(self.found), float(np.median(np.concatenate(self.floors)))

    def evidence(self) -> list[Evidence]:
        """Speech evidence from both detectors: the bands' stretches, whose strength is their margin
        over the local noise floor, and the voice model's, whose strength is its mean probability. The
        rules merge what overlaps into one flag."""
        windows, floor = self.windows()
        return speech_evidence(windows, floor_db=floor) + model_evidence(self.model.windows())

    @property
    def seconds(self) -> float:
        return self.samples / RATE


def _steady(spectra: np.ndarray) -> np.ndarray:
    """Which bins of which frames hold a steady tone: the phase advance into the frame comes back
    within TONE_TOLERANCE after TONE_LAG_FRAMES frames, or did so that many frames before."""
    advance = np.zeros_like(spectra)
    advance[1:] = spectra[1:] * np.conj(spectra[:-1])
    lag = TONE_LAG_FRAMES
    agree = np.zeros(spectra.shape, bool)
    if len(spectra) > lag + 1:
        turn = advance[lag + 1 :] * np.conj(advance[1:-lag])
        agree[lag + 1 :] = turn.real > np.cos(TONE_TOLERANCE) * np.abs(turn)
    steady = agree.copy()
    steady[:-lag] |= agree[lag:]
    return steady


def _periodicity(frames: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Per frame, from its samples and its power spectrum: how periodic its voicing band is at a pitch
    period, the largest autocorrelation over those lags relative to the frame's power and corrected
    for the window (about 1 for a vowel, under 0.6 for noise and clicks); 0 for a frame whose halves
    differ in power by more than SUSTAINED_HALVES_DB, as a knock's ring dying away does while a vowel
    holds."""
    halves = np.sum(frames.reshape(len(frames), 2, -1) ** 2, axis=2) + 1e-12
    sustained = np.abs(10 * np.log10(halves[:, 0] / halves[:, 1])) <= SUSTAINED_HALVES_DB
    lags = _lags(power)
    relative = lags / np.maximum(lags[:, :1], 1e-20) / _WINDOW_LAGS
    periodicity: np.ndarray = np.where(sustained, relative[:, _PITCH_LAGS].max(axis=1), 0.0)
    return periodicity


def _context_frames() -> int:
    """How far a frame's strength can depend on its neighbours' band levels, in frames (generously)."""
    reach = [
        round(max(NOISE_WINDOW_SECONDS, SYLLABLE_SECONDS) / FRAME_SECONDS),
        SMOOTH_FRAMES,
        TONE_SMOOTH_FRAMES + 2 * UNSTEADY_FRAMES,
        2 * VOICED_FRAMES + round(VOICING_REACH_SECONDS / FRAME_SECONDS),
        2 * SUSTAIN_FRAMES,
        round((LEAD_SECONDS + HANGOVER_SECONDS) / FRAME_SECONDS),
    ]
    return sum(reach) + 8


def frame_strengths(
    levels: np.ndarray, tonal: np.ndarray, periodicity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, from its band levels (dB), the share of its power in steady tones and its
    periodicity: the margin
    (dB) up to which it belongs to a stretch of speech (-inf for none); the margin with which it
    counts as speech by itself; and the local noise floor (dBFS, as SpeechWindow.floor_db)."""
    power = _moving_mean(10 ** (levels / 10), SMOOTH_FRAMES)
    window = round(NOISE_WINDOW_SECONDS / FRAME_SECONDS)
    lowest = np.maximum(
        _running(power, window, np.minimum, ahead=False), _running(power, window, np.minimum, ahead=True)
    )
    floor = np.maximum(lowest * 10 ** (FLOOR_BIAS_DB / 10), 10 ** (QUIET_DB / 10))
    over = 10 * np.log10(power / floor)
    top = np.argpartition(over, -TOP_BANDS, axis=1)[:, -TOP_BANDS:]
    margin = np.mean(np.take_along_axis(over, top, axis=1), axis=1)
    # Those bands must also come and go at the pace of syllables: the margin is no more than they rise
    # above their lowest within SYLLABLE_SECONDS before and after (the same two-sided minimum, over a
    # syllable). A noise that swells, or steps up and back down within the floor's window, stands
    # above the noise floor for a while, but not above its own level of a moment before and after.
    span = round(SYLLABLE_SECONDS / FRAME_SECONDS)
    recent = np.maximum(_running(power, span, np.minimum, ahead=False), _running(power, span, np.minimum, ahead=True))
    depth = np.mean(np.take_along_axis(10 * np.log10(power / recent), top, axis=1), axis=1)
    margin = np.minimum(margin, depth)
    # A note's onset breaks its steadiness for a few frames only; a voice stays unsteady for longer.
    unsteady = (_moving_mean(tonal, TONE_SMOOTH_FRAMES) < TONAL_SHARE).astype(np.float64)
    unsteady = _running(
        _running(unsteady, UNSTEADY_FRAMES, np.minimum, ahead=True), UNSTEADY_FRAMES, np.maximum, ahead=False
    )
    # A voice sounded nearby: a run of periodic frames as long as a vowel within reach.
    periodic = (periodicity >= PERIODIC).astype(np.float64)
    vowel = _running(periodic, VOICED_FRAMES, np.minimum, ahead=True)
    vowel = _running(vowel, VOICED_FRAMES, np.maximum, ahead=False)
    reach = 2 * round(VOICING_REACH_SECONDS / FRAME_SECONDS) + 1
    voiced_near = _moving_mean(vowel, reach) > 0
    margin = np.where((unsteady > 0) & voiced_near, margin, -np.inf)
    # A frame counts with the margin it keeps over SUSTAIN_FRAMES frames in a row.
    voiced = _running(_running(margin, SUSTAIN_FRAMES, np.minimum, ahead=True), SUSTAIN_FRAMES, np.maximum, ahead=False)
    lead = round(LEAD_SECONDS / FRAME_SECONDS)
    hangover = round(HANGOVER_SECONDS / FRAME_SECONDS)
    strength = _running(_running(voiced, hangover + 1, np.maximum, ahead=False), lead + 1, np.maximum, ahead=True)
    floor_db = 10 * np.log10(floor @ _BAND_WIDTHS / np.sum(_BAND_WIDTHS))
    return strength, voiced, floor_db


def _windows(
    times: np.ndarray,
    *,
    strength: np.ndarray,
    voiced: np.ndarray,
    floor: np.ndarray,
    level: np.ndarray,
    min_margin_db: float,
) -> list[SpeechWindow]:
    """Runs of frames of one (rounded) strength above ``min_margin_db``."""
    steps = np.minimum(np.ceil(strength / MARGIN_STEP_DB) * MARGIN_STEP_DB, MARGIN_CAP_DB)
    above = strength > min_margin_db
    change = np.flatnonzero((steps[1:] != steps[:-1]) | (above[1:] != above[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(strength)]])
    found = []
    for first, last in zip(starts, ends, strict=True):
        if not above[first]:
            continue
        found.append(
            SpeechWindow(
                float(times[first]),
                float(times[last - 1] + FRAME_SECONDS),
                round(float(np.mean(voiced[first:last] > min_margin_db)), 3),
                float(steps[first]),
                round(float(np.max(level[first:last])), 1),
                round(float(np.median(floor[first:last])), 1),
            )
        )
    return found


def speech_evidence(windows: list[SpeechWindow], *, floor_db: float) -> list[Evidence]:
    """Speech windows as evidence whose strength is their margin over the local noise floor: the
    exam's sensitivity then decides which margin is enough (rules.Thresholds.speech_margin_db)."""
    return [
        Evidence(
            Kind.SPEECH,
            window.start,
            window.end,
            window.share,
            window.start,
            {
                "level_db": window.level_db,
                "noise_floor_db": window.floor_db,
                "recording_noise_floor_db": round(floor_db, 1),
            },
            strength=window.margin_db,
        )
        for window in windows
    ]
