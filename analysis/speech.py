"""Voice activity on the webcam's audio: when someone was speaking, and nothing about who or what.

Pure code: PCM in, time ranges out, no Django. WebRTC's voice-activity detector marks 30 ms frames;
steady noise (a fan, or plain white noise, which the detector alone takes for speech) is held off by
requiring the frame to stand out from the recording's own noise floor, and by a minimum duration.
"""

from __future__ import annotations

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
    #: Share of the window's frames that were voiced and loud enough.
    share: float
    level_db: float


class VoiceActivity:
    """Fed mono 16-bit PCM at 16 kHz in order; keeps only a verdict and a level per 30 ms frame."""

    def __init__(self) -> None:
        import webrtcvad

        self.vad = webrtcvad.Vad(VAD_MODE)
        self.buffer = np.zeros(0, dtype=np.int16)
        self.origin: float | None = None
        self.frames = 0
        self.voiced: list[bool] = []
        self.levels: list[float] = []

    def feed(self, t: float, samples: np.ndarray) -> None:
        if self.origin is None:
            self.origin = t
        self.buffer = np.concatenate([self.buffer, samples])
        count = len(self.buffer) // FRAME
        if not count:
            return
        frames = self.buffer[: count * FRAME].reshape(count, FRAME)
        rms = np.sqrt(np.mean(frames.astype(np.float32) ** 2, axis=1)) / 32768
        self.levels += (20 * np.log10(np.maximum(rms, 1e-6))).tolist()
        self.voiced += [self.vad.is_speech(frame.tobytes(), RATE) for frame in frames]
        self.buffer = self.buffer[count * FRAME :]

    def windows(self, *, margin_db: float) -> tuple[list[SpeechWindow], float]:
        """Windows with speech, and the noise floor (dBFS) they were measured against."""
        if not self.levels or self.origin is None:
            return [], ABSOLUTE_FLOOR_DB
        levels = np.asarray(self.levels)
        floor = float(np.percentile(levels, 20))
        loud = levels > max(floor + margin_db, ABSOLUTE_FLOOR_DB)
        speech = np.asarray(self.voiced) & loud
        per_window = max(1, round(WINDOW_SECONDS / 0.03))
        found = []
        for first in range(0, len(speech), per_window):
            share = float(np.mean(speech[first : first + per_window]))
            if share >= WINDOW_VOICED_SHARE:
                start = self.origin + first * 0.03
                level = float(np.max(levels[first : first + per_window]))
                found.append(SpeechWindow(start, start + per_window * 0.03, round(share, 3), round(level, 1)))
        return found, floor

    @property
    def seconds(self) -> float:
        return len(self.levels) * 0.03


def speech_evidence(windows: list[SpeechWindow], *, offset: float, floor_db: float) -> list[Evidence]:
    return [
        Evidence(
            Kind.SPEECH,
            window.start + offset,
            window.end + offset,
            window.share,
            window.start + offset,
            {"level_db": window.level_db, "noise_floor_db": round(floor_db, 1)},
        )
        for window in windows
    ]
