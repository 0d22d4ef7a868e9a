"""Voice activity on its own: real synthesised speech is found where it is, after a hole in the audio
too, and steady noise of many kinds (white, pink, brown, mains hum, fans, quiet music, traffic), at
any level and stepping between levels, is not speech; nor is typing, which rises and falls as
syllables do.

The noises, voices and sentences come in two halves (tests/sounds.py): the detectors' constants were
chosen on the development half, and the held-back half checks they generalise. Every check goes
through the rules as a flag would: both detectors' evidence merged (the band detector of
analysis/speech.py and the voice model of analysis/voicemodel.py), minimum duration, standard
sensitivity for speech (noise must raise no flag at any). Speech at a normal talking level
(-20 dBFS) is expected over every noise up to -15 dBFS, 5 dB louder than the voice, even when the
noise steps 10 dB louder for a while; the misses are listed (KNOWN_MISSES, LOUD_MISSES), and
bench/speech.py counts them over more sentences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analysis import media, rules
from analysis.speech import (
    BLOCK,
    FRAME_SECONDS,
    HOP,
    RATE,
    VoiceActivity,
    _context_frames,
    _windows,
    speech_evidence,
)
from tests import scenarios, sounds

PACKET = RATE // 50  # 20 ms, as Opus packs it
#: A flag must start and end this close to the speech it stands for, in seconds.
TOLERANCE = 1.5
HALVES = {
    "dev": (sounds.DEV_NOISES, sounds.DEV_VOICES, sounds.DEV_SENTENCES),
    "held-back": (sounds.HELD_BACK_NOISES, sounds.HELD_BACK_VOICES, sounds.HELD_BACK_SENTENCES),
}


def feed(activity: VoiceActivity, start: float, pcm: np.ndarray) -> None:
    samples = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
    for offset in range(0, len(samples), PACKET):
        activity.feed(start + offset / RATE, samples[offset : offset + PACKET])


def evidence(recording: sounds.Recording) -> list[rules.Evidence]:
    """The speech evidence of the recording, as the pipeline gathers it."""
    activity = VoiceActivity(min_margin_db=rules.LEAST_STRICT.speech_margin_db)
    feed(activity, 0.0, recording.samples)
    return activity.evidence()


def flags(recording: sounds.Recording, sensitivity: str = "standard") -> list[rules.Event]:
    """The speech flags the recording would get at ``sensitivity``."""
    return rules.events_from(evidence(recording), rules.THRESHOLDS[sensitivity], rules.Exemptions())


def assert_found(recording: sounds.Recording, events: list[rules.Event]) -> None:
    """One flag per stretch of speech, starting and ending near it, and no other."""
    spans = [(round(e.start, 2), round(e.end, 2)) for e in events]
    assert len(events) == len(recording.speech), f"speech at {recording.speech}, flags at {spans}"
    for (start, end), event in zip(recording.speech, events, strict=True):
        assert abs(event.start - start) <= TOLERANCE, f"speech at {recording.speech}, flags at {spans}"
        assert abs(event.end - end) <= TOLERANCE, f"speech at {recording.speech}, flags at {spans}"


def noise_cases(levels: tuple[float, ...]) -> list[Any]:
    """Every noise of both halves, starting at each level."""
    return [
        pytest.param(kind, level, 10 * k + n, id=f"{half}-{kind}-{-level:.0f}dB")
        for half, (noises, _, _) in HALVES.items()
        for k, kind in enumerate(noises)
        for n, level in enumerate(levels)
    ]


#: Misses kept in view rather than tuned away: under desk fan A (dev) 5 dB louder than the voice and
#: then 10 dB louder still, neither detector hears the sentences.
KNOWN_MISSES = {
    "dev-fan_a-15dB": "speech 5 dB under desk fan A (10 dB louder still for a while): lost to both detectors",
}


def speech_cases(levels: tuple[float, ...]) -> list[Any]:
    """Every noise of both halves at each level, with the half's voices in turn and its sentences."""
    found = []
    for half, (noises, voices, sentences) in HALVES.items():
        for k, kind in enumerate(noises):
            for n, level in enumerate(levels):
                name = f"{half}-{kind}-{-level:.0f}dB"
                miss = KNOWN_MISSES.get(name)
                marks = [pytest.mark.xfail(strict=True, reason=miss)] if miss else []
                voice = voices[(k + n) % len(voices)]
                found.append(pytest.param(kind, level, voice, sentences, 10 * k + n, id=name, marks=marks))
    return found


def test_speech_after_a_hole_in_the_audio_is_placed_at_its_own_time() -> None:
    activity = VoiceActivity(min_margin_db=7)
    rng = np.random.default_rng(1)
    feed(activity, 0.0, rng.normal(0, 0.001, 4 * RATE))  # 4 s of a quiet room
    feed(activity, 20.0, scenarios.speech_pcm(3.0, rate=RATE))  # then a lost chunk: audio resumes at 20 s
    feed(activity, 23.0, rng.normal(0, 0.001, 4 * RATE))

    windows, _ = activity.windows()

    assert windows
    assert 19.9 <= windows[0].start <= 21.0
    assert windows[-1].end <= 23.6


def test_steady_white_noise_is_not_speech() -> None:
    activity = VoiceActivity(min_margin_db=7)
    feed(activity, 0.0, np.random.default_rng(2).normal(0, 10 ** (-20 / 20), 30 * RATE))
    windows, floor = activity.windows()
    assert windows == []
    assert -23 < floor < -17


@pytest.mark.parametrize(("kind", "level", "seed"), noise_cases((-35.0, -25.0, -15.0)))
def test_noise_stepping_between_levels_raises_no_speech_flag_at_any_sensitivity(
    kind: str, level: float, seed: int
) -> None:
    # 12 dB up from a quiet start, 12 dB down from a loud one, and back.
    step = level + 12 if level < -20 else level - 12
    recording = sounds.recording(kind, seconds=40, levels=[(0, level), (13, step), (27, level)], seed=seed)

    found = evidence(recording)

    for thresholds in rules.THRESHOLDS.values():
        assert rules.events_from(found, thresholds, rules.Exemptions()) == [], thresholds.sensitivity


@pytest.mark.parametrize(("kind", "level", "seed"), noise_cases((-35.0,)))
def test_noise_stepping_up_and_back_down_within_seconds_raises_no_speech_flag_at_any_sensitivity(
    kind: str, level: float, seed: int
) -> None:
    # Too short for the noise floor to follow from either side: 15 dB for 1, 2 and 3 s.
    levels = [(0.0, level)]
    for start, hold in ((8, 1.0), (18, 2.0), (28, 3.0)):
        levels += [(start, level + 15), (start + hold, level)]
    recording = sounds.recording(kind, seconds=40, levels=levels, seed=seed + 50)

    found = evidence(recording)

    for thresholds in rules.THRESHOLDS.values():
        assert rules.events_from(found, thresholds, rules.Exemptions()) == [], thresholds.sensitivity


@pytest.mark.parametrize(
    ("kind", "level", "voice", "sentences", "seed"), speech_cases((-35.0, -30.0, -25.0, -20.0, -15.0))
)
def test_sentences_over_noise_are_found_from_first_to_last_word(
    kind: str, level: float, voice: str, sentences: tuple[str, ...], seed: int
) -> None:
    # A short sentence (3 to 3.5 s), the noise 10 dB louder for a while, then a longer one 2.5 s
    # after it has dropped back.
    recording = sounds.recording(
        kind,
        seconds=30,
        levels=[(0, level), (11, level + 10), (16, level)],
        talk=[(4, 3.0 + 0.25 * (seed % 3)), (18.5, 4.0)],
        voice=voice,
        sentences=sentences,
        seed=seed,
    )

    assert_found(recording, flags(recording))


def loud_noise_cases() -> list[Any]:
    """Every noise of both halves at -15 dBFS, 5 dB louder than the voice."""
    return [
        pytest.param(
            half,
            kind,
            id=f"{half}-{kind}",
            marks=[pytest.mark.xfail(strict=True, reason=LOUD_MISSES[kind])] if kind in LOUD_MISSES else [],
        )
        for half, (noises, _, _) in HALVES.items()
        for kind in noises
    ]


#: Misses the held-back half showed, kept in view rather than tuned away (bench/speech.py gives the
#: counts over more sentences).
LOUD_MISSES = {
    "music_b": "music B 5 dB louder than the voice: the voice model hears its held melody as a voice at "
    "times, starting a flag too early, and loses a sentence",
}


@pytest.mark.parametrize(("half", "kind"), loud_noise_cases())
def test_most_sentences_under_noise_louder_than_the_voice_are_found(half: str, kind: str) -> None:
    # Noise 5 dB louder than the voice: four sentences in each of the half's voices, of which at most
    # one may be lost (before the voice model, pink noise and fans lost most), and no other flag.
    _, voices, sentences = HALVES[half]
    found = 0
    for n, voice in enumerate(voices):
        recording = sounds.recording(
            kind,
            seconds=34,
            levels=[(0, -15.0)],
            talk=[(3 + 8 * i, 3.0 + 0.25 * (i % 3)) for i in range(4)],
            voice=voice,
            sentences=sentences,
            seed=60 + n,
        )
        events = flags(recording)
        near = [
            any(abs(e.start - start) <= TOLERANCE and abs(e.end - end) <= TOLERANCE for e in events)
            for start, end in recording.speech
        ]
        assert len(events) <= sum(near), f"speech at {recording.speech}, flags at {events}"
        found += sum(near)

    assert found >= 7


@pytest.mark.parametrize("kind", ["hum50", "hum60"])
def test_speech_is_found_over_mains_hum_louder_than_the_voice(kind: str) -> None:
    recording = sounds.recording(kind, seconds=20, levels=[(0, -15)], talk=[(5, 3.5), (12, 4.0)], seed=3)

    assert_found(recording, flags(recording))


@pytest.mark.parametrize(
    ("voice", "sentences"),
    [(voice, sentences) for _, voices, sentences in HALVES.values() for voice in voices],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_three_second_sentence_makes_a_flag_of_three_seconds_or_more(
    voice: str, sentences: tuple[str, ...], seed: int
) -> None:
    # The case: each syllable's loud middle alone spans less than the 3-s minimum.
    recording = sounds.recording(
        "pink", seconds=15, levels=[(0, -30)], talk=[(5, 3.0)], voice=voice, sentences=sentences, seed=seed
    )

    events = flags(recording)

    assert_found(recording, events)
    assert events[0].seconds >= 3.0


def test_a_step_up_in_the_noise_just_before_speech_is_not_speech_and_the_speech_still_is() -> None:
    recording = sounds.recording(
        "white", seconds=20, levels=[(0, -40), (8, -28)], talk=[(9, 3.5)], voice="en-us", seed=5
    )

    assert_found(recording, flags(recording))


def test_knocks_ringing_at_a_pitch_in_quick_succession_are_not_a_voice() -> None:
    # A rattle: a damped 180 Hz ring every 50 ms for 6 s, at the pitch and pace of a vowel's pulses
    # but dying away within each frame, as a knock on a desk does.
    rng = np.random.default_rng(8)
    pcm = rng.normal(0, 10 ** (-55 / 20), 20 * RATE)
    ring = np.sin(2 * np.pi * 180 * np.arange(int(0.04 * RATE)) / RATE) * np.exp(
        -np.arange(int(0.04 * RATE)) / (0.008 * RATE)
    )
    for start in np.arange(5.0, 11.0, 0.05):
        at = int(start * RATE)
        pcm[at : at + len(ring)] += 0.3 * ring

    activity = VoiceActivity(min_margin_db=0)
    feed(activity, 0.0, pcm)
    windows, _ = activity.windows()

    assert windows == []


def test_a_stretch_just_over_a_sensitivitys_margin_passes_it_and_one_just_under_does_not() -> None:
    # 4 s of frames 10.6 dB over their floor: over the standard margin (10 dB), under the low one (14).
    count = round(4.0 / FRAME_SECONDS)
    strength = np.full(count, 10.6)
    windows = _windows(
        np.arange(count) * FRAME_SECONDS,
        strength=strength,
        voiced=strength,
        floor=np.full(count, -50.0),
        level=np.full(count, -20.0),
        min_margin_db=rules.LEAST_STRICT.speech_margin_db,
    )
    found = speech_evidence(windows, floor_db=-50.0)

    assert len(rules.events_from(found, rules.THRESHOLDS["standard"], rules.Exemptions())) == 1
    assert rules.events_from(found, rules.THRESHOLDS["low"], rules.Exemptions()) == []


def test_the_evidence_does_not_depend_on_how_the_audio_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = sounds.recording(
        "music_a", seconds=40, levels=[(0, -35), (15, -25)], talk=[(5, 3.0), (25, 5.0)], seed=6
    )

    def windows(packet: int) -> list[tuple[float, float, float]]:
        activity = VoiceActivity(min_margin_db=7)
        samples = recording.pcm16()
        for offset in range(0, len(samples), packet):
            activity.feed(offset / RATE, samples[offset : offset + packet])
        found, _ = activity.windows()
        # Pieces cut where the analysis was cut are joined back.
        joined: list[tuple[float, float, float]] = []
        for w in found:
            if joined and abs(joined[-1][1] - w.start) < 1e-6 and joined[-1][2] == w.margin_db:
                joined[-1] = (joined[-1][0], w.end, w.margin_db)
            else:
                joined.append((w.start, w.end, w.margin_db))
        return [(round(start, 3), round(end, 3), margin) for start, end, margin in joined]

    whole = windows(PACKET)
    monkeypatch.setattr("analysis.speech.CHUNK_FRAMES", 700)

    assert whole
    assert windows(777) == whole
    assert windows(7 * RATE) == whole


def test_the_voice_analysis_keeps_a_bounded_amount_however_long_the_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14: a three-hour recording is analysed in bounded memory, so the features of frames
    # already turned into speech are let go; only a piece and its context wait.
    monkeypatch.setattr("analysis.speech.CHUNK_FRAMES", 700)
    recording = sounds.recording("pink", seconds=150, levels=[(0, -40)], talk=[(20, 3.0), (100, 4.0)], seed=2)
    activity = VoiceActivity(min_margin_db=7)
    samples = recording.pcm16()
    most = 0
    for offset in range(0, len(samples), BLOCK):
        activity.feed(offset / RATE, samples[offset : offset + BLOCK])
        most = max(most, sum(len(block) for block in activity.kept))
    found, _ = activity.windows()

    assert activity.frames > 9000
    assert most <= 700 + 2 * _context_frames() + 2 * BLOCK // HOP
    assert [round(w.start) for w in found if w.margin_db > 7][:1] == [20]


def test_the_decoder_hands_the_voice_analysis_audio_at_the_rate_it_reads_it_at() -> None:
    # Its bands and pitch lags are counted in samples of RATE: audio at another rate would be read
    # at the wrong pitch and in the wrong bands, with no error.
    assert media.AUDIO_RATE == RATE


def test_the_test_sounds_are_as_loud_as_asked_and_the_same_for_the_same_seed() -> None:
    for kind in sounds.NOISES:
        noise = sounds.noise(kind, 5, -27.0, seed=1)
        assert sounds.db_rms(noise) == pytest.approx(-27.0, abs=0.1)
        assert np.array_equal(noise, sounds.noise(kind, 5, -27.0, seed=1))
    talk = sounds.speech(3.0, "en-us", seed=2)
    assert len(talk) >= 3.0 * RATE
    # From its first sound to its last.
    assert np.abs(talk[:80]).max() > 1e-3
    assert np.abs(talk[-80:]).max() > 1e-3
