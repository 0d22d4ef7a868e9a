"""Face presence and verification on real faces (tests/scenarios.py draws them into a room): every face
in view is verified, "different person" only when no face matches, several faces say whether the
student is among them, and a covered, dark or empty view is told apart by a second opinion."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from analysis import rules, vision
from analysis.rules import Exemptions, Kind, Severity
from analysis.vision import ArrayPicture
from tests import scenarios
from tests.scenarios import Person, Scenario, Shot

STANDARD = rules.THRESHOLDS["standard"]
STUDENT = Person("obama2.jpg")
SECONDS = 8


@cache
def template() -> np.ndarray:
    return scenarios.enrolled_template("obama.jpg")


def watch(shot: Shot, *, seconds: int = SECONDS, with_template: bool = True) -> vision.VideoAnalysis:
    """The sampler fed one frame a second of ``shot``, as the decoder would."""
    sampler = vision.FaceSampler(template() if with_template else None)
    item = Scenario("test", seconds, (shot,), seed=7)
    noise = scenarios.sensor_noise(7, 1)[0]
    for second in range(seconds):
        sampler.feed(float(second), scenarios.render_frame(item, shot, float(second), noise))
    return sampler.finish(float(seconds))


def flags(analysis: vision.VideoAnalysis) -> list[rules.Event]:
    return rules.events_from(vision.face_evidence(analysis.samples), STANDARD, Exemptions())


def kinds(events: list[rules.Event]) -> list[Kind]:
    return [event.kind for event in events]


def test_the_student_alone_raises_nothing_and_is_verified_once() -> None:
    analysis = watch(Shot(0, SECONDS, (STUDENT,)))
    assert flags(analysis) == []
    assert analysis.identity_checks == 1  # a face that stays is not verified again every frame
    assert all(
        sample.faces == 1 and sample.distance is not None and sample.distance < 0.5 for sample in analysis.samples
    )


def test_a_visitor_beside_the_student_is_more_than_one_face_with_the_student_among_them() -> None:
    analysis = watch(Shot(0, SECONDS, (STUDENT, Person("john2.jpeg", face=120, x=0.8, y=0.3))))
    events = flags(analysis)
    assert kinds(events) == [Kind.MULTIPLE_FACES]
    assert events[0].detail["student_present"] is True
    assert rules.severity(events[0]) == Severity.MEDIUM
    assert "The enrolled student was one of them." in rules.reason(events[0])


def test_a_second_person_larger_than_the_student_is_no_reason_to_say_she_did_not_match() -> None:
    # Only the largest face used to be verified: the visitor nearer the camera made a "different person".
    shot = Shot(0, SECONDS, (Person("obama2.jpg", face=140, x=0.33), Person("john2.jpeg", face=210, x=0.68, y=0.45)))
    analysis = watch(shot)
    events = flags(analysis)
    assert kinds(events) == [Kind.MULTIPLE_FACES]
    assert events[0].detail["student_present"] is True
    assert len(analysis.samples[0].distances) == 2  # both faces were verified


def test_two_strangers_without_the_student_is_a_different_person_and_a_higher_concern() -> None:
    shot = Shot(0, SECONDS, (Person("biden.jpg", face=160, x=0.36), Person("john2.jpeg", face=140, x=0.72, y=0.36)))
    events = flags(watch(shot))
    assert sorted(kinds(events)) == sorted([Kind.MULTIPLE_FACES, Kind.FACE_MISMATCH])
    several = next(e for e in events if e.kind == Kind.MULTIPLE_FACES)
    assert several.detail["student_present"] is False
    assert rules.severity(several) == Severity.HIGH
    assert "None of them matched" in rules.reason(several)
    mismatch = next(e for e in events if e.kind == Kind.FACE_MISMATCH)
    assert rules.reason(mismatch).startswith("None of the 2 faces on the webcam matched the face enrolled")


def test_a_stranger_alone_in_the_seat_is_a_different_person() -> None:
    events = flags(watch(Shot(0, SECONDS, (Person("biden.jpg"),))))
    assert kinds(events) == [Kind.FACE_MISMATCH]
    assert events[0].detail["distance"] > 0.7
    assert rules.severity(events[0]) == Severity.HIGH


def test_an_empty_room_is_no_face_confirmed_by_the_second_opinion() -> None:
    analysis = watch(Shot(0, SECONDS, ()))
    events = flags(analysis)
    assert kinds(events) == [Kind.NO_FACE]
    assert events[0].confidence >= 0.85
    assert analysis.cnn_detections == 1  # asked once: the empty room did not change after


def test_the_cnn_looks_for_a_lost_face_on_a_copy_scaled_to_its_size_and_answers_in_the_frames_pixels() -> None:
    # A hand over the lower face in a dim room: HOG loses the face, the CNN still finds it at a third of
    # the pixels (a face last seen 170 px wide is looked for on a copy 100/170 the size).
    shot = Shot(0, 1, (Person("right:two_people.jpg", cover="hand"),), light=0.3)
    item = Scenario("test", 1, (shot,), seed=7)
    grey = ArrayPicture(scenarios.render_frame(item, shot, 0.0, scenarios.sensor_noise(7, 1)[0])).grey
    assert vision.detect_hog(grey) == []
    found = vision.detect_cnn(grey, face_width=170)
    assert len(found) == 1
    top, right, bottom, left = found[0].box
    assert 130 <= right - left <= 260
    assert left < grey.shape[1] / 2 < right  # she sits in the middle
    assert top < grey.shape[0] * 0.4 < bottom


@pytest.mark.parametrize("cover", ["hand", "cup"])
def test_a_hand_or_a_cup_over_the_lower_face_raises_no_flag(cover: str) -> None:
    analysis = watch(Shot(0, SECONDS, (Person("obama2.jpg", cover=cover),)))
    assert flags(analysis) == []


def test_too_dark_to_see_is_a_technical_flag_not_misconduct() -> None:
    events = flags(watch(Shot(0, SECONDS, (STUDENT,), light=0.0)))  # the light is off: sensor noise only
    assert kinds(events) == [Kind.CAMERA_DARK]
    assert rules.RULES[Kind.CAMERA_DARK].category == rules.Category.TECHNICAL
    assert "too dark" in rules.reason(events[0])


@pytest.mark.parametrize(
    "shot",
    [
        Shot(0, SECONDS, (STUDENT,), light=0.3),
        Shot(0, SECONDS, (STUDENT,), backlight=True),
        Shot(0, SECONDS, (STUDENT,), blur=2.5),
        Shot(0, SECONDS, (Person("obama2.jpg", face=70),)),
    ],
    ids=["dim", "backlight", "blurred", "far"],
)
def test_dim_backlit_blurred_or_far_the_student_is_still_seen(shot: Shot) -> None:
    assert flags(watch(shot)) == []


def test_without_a_template_faces_are_counted_but_never_called_a_mismatch() -> None:
    events = flags(watch(Shot(0, SECONDS, (Person("biden.jpg"),)), with_template=False))
    assert events == []


def test_flicker_and_sway_do_not_count_as_changes_of_scene() -> None:
    analysis = watch(Shot(0, 40, (STUDENT,), flicker=0.15), seconds=40)
    assert analysis.identity_checks == 1
    assert analysis.detections <= 4  # the first look and one every still interval
