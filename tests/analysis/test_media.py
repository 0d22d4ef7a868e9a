"""Decoding for analysis: the audio reaches the voice detector as mono 16 kHz 16-bit samples, in runs of
about a second that start where the sound does, at its media time."""

from __future__ import annotations

import numpy as np

from analysis import media
from tests.media import make_webm


def heard(data: bytes) -> list[tuple[float, np.ndarray]]:
    runs: list[tuple[float, np.ndarray]] = []
    media.decode_stream([data], audio=lambda t, samples: runs.append((t, samples)))
    return runs


def test_the_audio_arrives_as_mono_16_khz_in_runs_of_about_a_second() -> None:
    runs = heard(make_webm(seconds=5, width=64, height=48))
    samples = np.concatenate([run for _, run in runs])
    assert samples.dtype == np.int16
    assert samples.ndim == 1
    assert abs(len(samples) - 5 * media.AUDIO_RATE) < 0.05 * media.AUDIO_RATE  # the codecs' delays
    assert 4 <= len(runs) <= 6
    assert all(len(run) <= 1.1 * media.AUDIO_RATE for _, run in runs)
    # Each run starts where the one before ended: the timeline holds.
    for (start, run), (following, _) in zip(runs, runs[1:], strict=False):
        assert abs(start + len(run) / media.AUDIO_RATE - following) < 0.03
    # Still the 440 Hz tone that was recorded.
    middle = samples[media.AUDIO_RATE : 3 * media.AUDIO_RATE].astype(np.float64)
    peak = np.argmax(np.abs(np.fft.rfft(middle))) * media.AUDIO_RATE / len(middle)
    assert abs(peak - 440) < 2


def test_audio_after_a_lost_stretch_starts_a_new_run_at_its_own_time() -> None:
    runs = heard(make_webm(seconds=6, width=64, height=48, audio_gap=(2.0, 4.0)))
    ends = [start + len(run) / media.AUDIO_RATE for start, run in runs]
    assert max(end for end in ends if end < 3.0) < 2.1
    after = min(start for start, _ in runs if start > 3.0)
    assert abs(after - 4.0) < 0.05
