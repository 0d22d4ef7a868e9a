"""Voice activity on the webcam's audio: when someone was speaking, and nothing about who or what.

Pure code: PCM in, time ranges out, no Django. WebRTC's voice-activity detector marks 30 ms frames;
steady noise (a fan, or plain white noise, which the detector alone takes for speech) is held off by
requiring the frame to stand out from the recording's own noise floor, and by a minimum duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.rules import Evidence, Kind

RATE = 16_000
FRAME = RATE * 30 // 1000  # webrtcvad takes 10, 20 or 30 ms frames
#: webrtcvad's most aggressive mode rejects the most non-speech.
VAD_MODE = 3
#: Quieter than this is silence, whatever the floor.
ABSOLUTE_FLOOR_DB = -55.0
#: Speech windows: this long, and at least this share of their frames voiced.
WINDOW_SECONDS = 0.5
WINDOW_VOICED_SHARE = 0.5


@dataclass(frozen=True)
class SpeechWindow:
    start: float
    end: float
    #: Share of the window's frames the detector called voiced (above the absolute floor).
    share: float
    #: The margin over the noise floor (dB) up to which the window still counts as speech: half of its
    #: frames are voiced and at least this much louder than the floor.
    margin_db: float
    level_db: float


#: Audio that jumps by more than this from where the previous audio ended (a lost chunk) restarts the
#: timeline at the new timestamp, so later speech is not placed too early.
RESYNC_SECONDS = 0.5
FRAME_SECONDS = FRAME / RATE


class VoiceActivity:
    """Fed mono 16-bit PCM at 16 kHz in order; keeps only a verdict, a level and a time per 30 ms frame."""

    def __init__(self) -> None:
        import webrtcvad

        self.vad = webrtcvad.Vad(VAD_MODE)
        self.buffer = np.zeros(0, dtype=np.int16)
        self.cursor: float | None = None
        self.voiced: list[bool] = []
        self.levels: list[float] = []
        self.times: list[float] = []

    def feed(self, t: float, samples: np.ndarray) -> None:
        expected = None if self.cursor is None else self.cursor + len(self.buffer) / RATE
        if expected is None or abs(t - expected) > RESYNC_SECONDS:
            self.buffer = np.zeros(0, dtype=np.int16)
            self.cursor = t
        self.buffer = np.concatenate([self.buffer, samples])
        count = len(self.buffer) // FRAME
        if not count or self.cursor is None:
            return
        frames = self.buffer[: count * FRAME].reshape(count, FRAME)
        rms = np.sqrt(np.mean(frames.astype(np.float32) ** 2, axis=1)) / 32768
        self.levels += (20 * np.log10(np.maximum(rms, 1e-6))).tolist()
        self.voiced += [self.vad.is_speech(frame.tobytes(), RATE) for frame in frames]
        self.times += [self.cursor + i * FRAME_SECONDS for i in range(count)]
        self.cursor += count * FRAME_SECONDS
        self.buffer = self.buffer[count * FRAME :]

    def windows(self, *, min_margin_db: float) -> tuple[list[SpeechWindow], float]:
        """Windows that count as speech at a margin of ``min_margin_db`` or more over the noise floor,
        each with the largest margin it passes; and the noise floor (dBFS)."""
        if not self.levels:
            return [], ABSOLUTE_FLOOR_DB
        levels = np.asarray(self.levels)
        floor = float(np.percentile(levels, 20))
        above = np.where(np.asarray(self.voiced) & (levels > ABSOLUTE_FLOOR_DB), levels - floor, -np.inf)
        per_window = max(1, round(WINDOW_SECONDS / FRAME_SECONDS))
        needed = math.ceil(WINDOW_VOICED_SHARE * per_window)
        found = []
        for first in range(0, len(above), per_window):
            values = np.sort(above[first : first + per_window])[::-1]
            if len(values) < needed:
                continue
            margin = float(values[needed - 1])
            if margin > min_margin_db:
                start = self.times[first]
                share = float(np.mean(np.isfinite(values)))
                level = float(np.max(levels[first : first + per_window]))
                found.append(
                    SpeechWindow(
                        start, start + per_window * FRAME_SECONDS, round(share, 3), round(margin, 1), round(level, 1)
                    )
                )
        return found, floor

    @property
    def seconds(self) -> float:
        return len(self.levels) * FRAME_SECONDS


def speech_evidence(windows: list[SpeechWindow], *, floor_db: float) -> list[Evidence]:
    """Speech windows as evidence whose strength is their margin over the noise floor: the exam's
    sensitivity then decides which margin is enough (rules.Thresholds.speech_margin_db)."""
    return [
        Evidence(
            Kind.SPEECH,
            window.start,
            window.end,
            window.share,
            window.start,
            {"level_db": window.level_db, "noise_floor_db": round(floor_db, 1)},
            strength=window.margin_db,
        )
        for window in windows
    ]
