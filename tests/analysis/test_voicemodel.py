"""The voice model (analysis/voicemodel.py): Silero VAD run in numpy gives what onnxruntime gives on
the same published file; the noise filter takes steady noise down and lets a voice through; the
stretches do not depend on how the audio is cut, are placed at their own time after a hole, and the
memory held is a piece; and the exam's sensitivity reads the model's evidence by its probability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import rules, voicemodel
from analysis.speech import RATE, VoiceActivity
from tests import sounds

REFERENCE = Path(__file__).resolve().parent / "data" / "silero_reference.npz"


def test_the_numpy_model_gives_what_onnxruntime_gives_with_the_published_file() -> None:
    # scripts/silero_weights.py ran onnxruntime on silero_vad_16k_op15.onnx (silero-vad 6.2.3) over
    # this audio, a chunk at a time with the model's state carried, and kept every probability.
    with np.load(REFERENCE) as reference:
        audio, expected = reference["audio"], reference["probabilities"]
    model = voicemodel.Model()

    # In two calls, cut at a chunk boundary: the state carries over as onnxruntime's did.
    cut = 100 * voicemodel.CHUNK
    got = np.concatenate(
        [model.probabilities(audio[:cut]), model.probabilities(audio[cut : len(expected) * voicemodel.CHUNK])]
    )

    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    # The reference is not all one answer: it holds speech and no speech.
    assert expected.max() > 0.9
    assert expected.min() < 0.05


def test_the_noise_filter_takes_steady_noise_down_and_lets_a_voice_through() -> None:
    noise = sounds.noise("pink", 12, -20.0, seed=3).astype(np.float32)
    voice = sounds.speech(3.0, "en-us", seed=4).astype(np.float32)
    mixed = noise.copy()
    at = 6 * RATE
    mixed[at : at + len(voice)] += voice

    filtered = filter_whole(mixed)

    quiet = slice(2 * RATE, 5 * RATE)
    talking = slice(at, at + len(voice))
    # The noise alone loses more than 6 dB; where the voice is, what is left is mostly the voice.
    assert sounds.db_rms(filtered[quiet]) < sounds.db_rms(mixed[quiet]) - 6
    assert sounds.db_rms(filtered[talking]) > sounds.db_rms(voice) - 3


def filter_whole(audio: np.ndarray) -> np.ndarray:
    """The filter's output over the whole of ``audio`` at once (frames overlap-added)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, voicemodel.FRAME)[:: voicemodel.HOP]
    out = voicemodel.denoise_frames(frames)
    result = np.zeros(len(audio), np.float32)
    for index, frame in enumerate(out):
        result[index * voicemodel.HOP : index * voicemodel.HOP + voicemodel.FRAME] += frame
    return result


def heard(recording: sounds.Recording, packet: int, start: float = 0.0) -> list[voicemodel.ModelWindow]:
    activity = voicemodel.ModelVoiceActivity()
    activity.start_segment(start)
    samples = recording.pcm16()
    for offset in range(0, len(samples), packet):
        activity.feed(samples[offset : offset + packet])
    return activity.windows()


def test_the_stretches_do_not_depend_on_how_the_audio_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    # 80 s: more than two pieces, with a sentence across the first cut between pieces (at 32.8 s).
    recording = sounds.recording(
        "fan_b", seconds=80, levels=[(0, -30), (40, -22)], talk=[(5, 3.0), (31.5, 3.5), (60, 4.0)], seed=9
    )

    whole = heard(recording, len(recording.samples))

    # Every sentence is heard, and nothing else; and fed in packets of any size, the very same.
    assert all(any(w.start < end and w.end > start for w in whole) for start, end in recording.speech)
    assert all(any(start - 1 <= w.start and w.end <= end + 1 for start, end in recording.speech) for w in whole)
    assert heard(recording, RATE // 50) == whole
    assert heard(recording, 7777) == whole
    # Cut into other pieces (the filter's context either side of each), the same stretches come out,
    # their times within a chunk and their probabilities within 1e-3.
    monkeypatch.setattr(voicemodel, "PIECE_CHUNKS", 77)
    small = heard(recording, RATE)
    monkeypatch.setattr(voicemodel, "PIECE_CHUNKS", 10**6)
    one = heard(recording, RATE)

    for other in (small, one):
        assert len(other) == len(whole)
        for a, b in zip(whole, other, strict=True):
            assert abs(a.start - b.start) <= voicemodel.CHUNK_SECONDS
            assert abs(a.end - b.end) <= voicemodel.CHUNK_SECONDS
            assert abs(a.probability - b.probability) <= 1e-3


def test_the_model_holds_a_piece_of_audio_however_long_the_recording() -> None:
    recording = sounds.recording("pink", seconds=150, levels=[(0, -35)], talk=[(20, 3.0), (100, 4.0)], seed=2)
    activity = voicemodel.ModelVoiceActivity()
    activity.start_segment(0.0)
    samples = recording.pcm16()
    most = 0
    for offset in range(0, len(samples), RATE):
        activity.feed(samples[offset : offset + RATE])
        most = max(most, len(activity.samples) + activity.pending_count)
    found = activity.windows()

    piece = voicemodel.PIECE_CHUNKS * voicemodel.CHUNK
    reach = (2 * voicemodel._REACH_FRAMES + 8) * voicemodel.HOP + voicemodel.FRAME
    assert most <= piece + reach + RATE
    assert [round(w.start) for w in found] == [20, 100]


def test_speech_after_a_hole_in_the_audio_is_placed_at_its_own_time() -> None:
    recording = sounds.recording("white", seconds=8, levels=[(0, -40)], talk=[(3, 3.0)], seed=4)
    activity = VoiceActivity(min_margin_db=7)
    rng = np.random.default_rng(1)
    activity.feed(0.0, (rng.normal(0, 30, 4 * RATE)).astype(np.int16))
    samples = recording.pcm16()
    for offset in range(0, len(samples), RATE):  # a lost chunk: the audio resumes at 20 s
        activity.feed(20.0 + offset / RATE, samples[offset : offset + RATE])

    found = activity.model.windows()

    assert len(found) == 1
    assert 22.7 <= found[0].start <= 23.2
    assert 25.8 <= found[0].end <= 26.5


def evidence_of(probability: float, seconds: float = 8.0) -> rules.Evidence:
    (piece,) = voicemodel.model_evidence([voicemodel.ModelWindow(10.0, 10.0 + seconds, probability, probability)])
    return piece


@pytest.mark.parametrize(
    ("probability", "flagged_at"),
    [
        (0.45, set()),
        (0.55, {"high"}),
        (0.6, {"high", "standard"}),
        (0.65, {"high", "standard"}),
        (0.8, {"high", "standard", "low"}),
    ],
)
def test_each_sensitivity_reads_the_models_evidence_by_its_probability(
    probability: float, flagged_at: set[str]
) -> None:
    piece = evidence_of(probability)

    flagged = {
        name
        for name, thresholds in rules.THRESHOLDS.items()
        if rules.events_from([piece], thresholds, rules.Exemptions())
    }

    assert flagged == flagged_at


def test_the_models_evidence_keeps_what_it_measures_between_stretches() -> None:
    piece = evidence_of(0.9)

    again = rules.evidence_from_dict(rules.evidence_to_dict(piece))

    assert again == piece
    assert again.measure == rules.SPEECH_PROBABILITY
    # Evidence kept before the voice model existed reads as the band detector's.
    stored = rules.evidence_to_dict(piece)
    del stored["measure"]
    assert rules.evidence_from_dict(stored).measure == ""


def test_a_speech_flag_records_both_thresholds_it_depended_on() -> None:
    values = rules.THRESHOLDS["standard"].for_kind(rules.Kind.SPEECH)

    assert values["speech_margin_db"] == 10
    assert values["speech_probability"] == 0.6


def test_digital_silence_and_a_blip_are_not_speech() -> None:
    activity = voicemodel.ModelVoiceActivity()
    activity.start_segment(0.0)
    activity.feed(np.zeros(10 * RATE, np.int16))
    click = np.zeros(RATE, np.int16)
    click[8000:8100] = 20000
    activity.feed(click)

    assert activity.windows() == []


def test_in_a_quiet_room_the_model_hears_only_around_what_is_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    # A room at -60 dBFS for a minute, one sentence at a talking level: the model hears the sentence
    # and a second either side of it, not the silence (the band detector hears a voice there anyway).
    recording = sounds.recording("white", seconds=60, levels=[(0, -60)], talk=[(30, 3.0)], seed=5)
    heard_chunks = []
    hear = voicemodel.Model.probabilities

    def counting(self: voicemodel.Model, audio: np.ndarray) -> np.ndarray:
        heard_chunks.append(len(audio) // voicemodel.CHUNK)
        return hear(self, audio)

    monkeypatch.setattr(voicemodel.Model, "probabilities", counting)

    found = heard(recording, RATE)

    assert [round(w.start) for w in found] == [30]
    seconds = sum(heard_chunks) * voicemodel.CHUNK_SECONDS
    assert 3.0 < seconds <= 3.0 + 2 * voicemodel.LOUD_REACH_SECONDS + 1.0
