"""Voice activity on its own: real synthesised speech is found where it is, after a hole in the audio
too, and steady white noise is not speech."""

from __future__ import annotations

import numpy as np

from analysis.speech import RATE, VoiceActivity
from tests import scenarios

PACKET = RATE // 50  # 20 ms, as Opus packs it


def feed(activity: VoiceActivity, start: float, pcm: np.ndarray) -> None:
    samples = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
    for offset in range(0, len(samples), PACKET):
        activity.feed(start + offset / RATE, samples[offset : offset + PACKET])


def test_speech_after_a_hole_in_the_audio_is_placed_at_its_own_time() -> None:
    activity = VoiceActivity()
    rng = np.random.default_rng(1)
    feed(activity, 0.0, rng.normal(0, 0.001, 4 * RATE))  # 4 s of a quiet room
    feed(activity, 20.0, scenarios.speech_pcm(3.0, rate=RATE))  # then a lost chunk: audio resumes at 20 s
    feed(activity, 23.0, rng.normal(0, 0.001, 4 * RATE))

    windows, _ = activity.windows(min_margin_db=7)

    assert windows
    assert 19.9 <= windows[0].start <= 21.0
    assert windows[-1].end <= 23.6


def test_steady_white_noise_is_not_speech() -> None:
    activity = VoiceActivity()
    feed(activity, 0.0, np.random.default_rng(2).normal(0, 10 ** (-20 / 20), 30 * RATE))
    windows, floor = activity.windows(min_margin_db=7)
    assert windows == []
    assert -23 < floor < -17
