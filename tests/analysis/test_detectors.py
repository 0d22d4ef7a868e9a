"""The detectors are declared: a closed list of what they may measure, a refusal of what Invigil never
measures, a snapshot of the default set, and the known causes of false alarms named for every flag."""

from __future__ import annotations

import pytest

from analysis.detectors import (
    DETECTOR_VERSIONS,
    DETECTORS,
    Detector,
    ForbiddenDetector,
    Measure,
    Source,
    register,
)
from analysis.rules import FALSE_ALARM_CAUSES, RULES, Kind

#: The default set, as it ships. A change here is a change of what students are told is measured: update
#: the README's list and the notice texts with it.
SNAPSHOT = {
    "face-presence": ("2.0", {"FACE_PRESENCE", "IMAGE_DARKNESS"}, {"WEBCAM_VIDEO"}),
    "face-verification": ("2.0", {"FACE_IDENTITY"}, {"WEBCAM_VIDEO"}),
    "voice-activity": ("3.0", {"VOICE_ACTIVITY"}, {"WEBCAM_AUDIO"}),
    "browser-signals": ("1.0", {"PAGE_EVENTS"}, {"PAGE"}),
    "recording-continuity": ("1.0", {"RECORDING_CONTINUITY"}, {"UPLOADS"}),
}


def test_the_default_set_is_the_snapshot() -> None:
    found = {
        name: (d.version, {m.name for m in d.measures}, {s.name for s in d.reads}) for name, d in DETECTORS.items()
    }
    assert found == SNAPSHOT
    assert {name: version for name, (version, _, _) in SNAPSHOT.items()} == DETECTOR_VERSIONS


def test_every_flag_type_belongs_to_exactly_one_registered_detector() -> None:
    owners = {kind: [d.name for d in DETECTORS.values() if kind in d.kinds] for kind in Kind}
    assert owners == {kind: [RULES[kind].detector] for kind in Kind}


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("engagement", "Estimates the student's emotion from facial expressions."),
        ("stress", "Reads affect and arousal from the voice."),
        ("typing", "Profiles keystroke dynamics to tell students apart."),
        ("typing-cadence", "Compares the typing rhythm with earlier exams."),
        ("attention", "Follows the student's gaze to see where they look."),
        ("room", "Asks for a room scan and checks the desk."),
        ("who-else", "Runs a 1:N search of faces against the whole class."),
    ],
)
def test_a_detector_of_what_invigil_never_measures_is_refused(name: str, description: str) -> None:
    registry: dict[str, Detector] = {}
    with pytest.raises(ForbiddenDetector, match="never measures"):
        register(
            registry,
            Detector(
                name,
                "1.0",
                description,
                frozenset({Measure.FACE_PRESENCE}),
                frozenset({Source.WEBCAM_VIDEO}),
                frozenset(),
            ),
        )
    assert registry == {}


def test_a_detector_must_measure_from_the_closed_list() -> None:
    with pytest.raises(ForbiddenDetector, match="closed list"):
        register(
            {},
            Detector("mood", "1.0", "Something new.", frozenset({"facial expression"}), frozenset(), frozenset()),  # type: ignore[arg-type]
        )
    with pytest.raises(ForbiddenDetector, match="must say what it measures"):
        register({}, Detector("vague", "1.0", "Something.", frozenset(), frozenset(), frozenset()))


def test_a_detector_cannot_claim_another_detectors_flag_type() -> None:
    with pytest.raises(ForbiddenDetector, match="give flag type speech to voice-activity"):
        register(
            {},
            Detector(
                "listener",
                "1.0",
                "Finds speech.",
                frozenset({Measure.VOICE_ACTIVITY}),
                frozenset(),
                frozenset({Kind.SPEECH}),
            ),
        )


def test_the_registered_set_passes_its_own_rules() -> None:
    fresh: dict[str, Detector] = {}
    for detector in DETECTORS.values():
        register(fresh, detector)
    assert fresh == DETECTORS


def test_every_flag_type_names_its_known_causes_of_false_alarms() -> None:
    assert set(FALSE_ALARM_CAUSES) == set(Kind)
    for kind, causes in FALSE_ALARM_CAUSES.items():
        assert len(causes) >= 2, kind
        assert all(cause and cause[0].islower() and not cause.endswith(".") for cause in causes), kind
