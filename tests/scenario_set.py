"""The scenario set that measures the analysis: every condition that trips detectors up, each its own
recording, for several people, split into a development half and a held-back half.

The halves share no person, no room, no voice, no sentence and no noise recording: the development half
has Barack Obama and Kit Harington, the held-back half Joe Biden and Grace Hopper (each enrolled with one
photo and seen through another), rooms drawn from other seeds, other espeak-ng voices and sentences, and
other noise families (tests/sounds.py). Thresholds are chosen looking at the development half only;
``bench/analysis.py`` reports the two halves separately, per condition, so the held-back figures say
how the detectors do on material nobody tuned them to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tests import sounds
from tests.scenarios import Person, Scenario, Shot, Truth, render_audio


@dataclass(frozen=True)
class Student:
    name: str
    #: The photo enrolled, and the photo the webcam shows (another of the same person where there is one).
    enrol: str
    webcam: str


@dataclass(frozen=True)
class Half:
    name: str
    students: tuple[Student, ...]
    #: Voices and sentences of whoever speaks; the quiet room's hiss; the steady noises to resist.
    voices: tuple[str, ...]
    sentences: str
    quiet: str
    noises: tuple[str, ...]
    #: Rooms and sensor noise are drawn from seeds from here on.
    seed: int


DEV = Half(
    "dev",
    (
        Student("Barack Obama", "obama.jpg", "obama2.jpg"),
        Student("Kit Harington", "john1.jpeg", "john2.jpeg"),
    ),
    sounds.DEV_VOICES,
    "dev",
    "white",
    sounds.DEV_NOISES,
    seed=0,
)
HELD_BACK = Half(
    "held-back",
    (
        Student("Joe Biden", "biden.jpg", "right:two_people.jpg"),
        Student("Grace Hopper", "package:grace_hopper.jpg", "mirror:package:grace_hopper.jpg"),
    ),
    sounds.HELD_BACK_VOICES,
    "held-back",
    "pink",
    sounds.HELD_BACK_NOISES,
    seed=500,
)
HALVES = (DEV, HELD_BACK)

SECONDS = 80.0
#: A quiet room's hiss, dBFS.
QUIET_DB = -60.0


@dataclass(frozen=True)
class Cast:
    """Who is in one recording: the student, and two other people of the same half."""

    me: Student
    other: Student

    def student(self, **placing: object) -> Person:
        return Person(self.me.webcam, **placing)  # type: ignore[arg-type]

    def visitor(self, **placing: object) -> Person:
        return Person(self.other.webcam, **placing)  # type: ignore[arg-type]

    def third(self, **placing: object) -> Person:
        # The half's other person once more, from their enrolment photo flipped: a second stranger.
        return Person(f"mirror:{self.other.enrol}", **placing)  # type: ignore[arg-type]


def _alone(cast: Cast, start: float, end: float, **light: object) -> Shot:
    return Shot(start, end, (cast.student(),), **light)  # type: ignore[arg-type]


def _with(cast: Cast, start: float, end: float, *people: Person, **light: object) -> Shot:
    return Shot(start, end, people, **light)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    build: Callable[[Cast], dict[str, object]]
    #: Nothing in it should raise a concern flag.
    trap: bool = False


def _events_absence(c: Cast) -> dict[str, object]:
    shots = (_alone(c, 0, 20), _with(c, 20, 40), _alone(c, 40, 60), _with(c, 60, 66), _alone(c, 66, SECONDS))
    return {"shots": shots, "truth": (Truth("no_face", 20, 40), Truth("no_face", 60, 66))}


def _events_visitor(c: Cast) -> dict[str, object]:
    shots = (
        _alone(c, 0, 25),
        _with(c, 25, 45, c.student(), c.visitor(face=110, x=0.8, y=0.32)),
        _alone(c, 45, 60),
        _with(c, 60, 68, c.student(), c.visitor(face=100, x=0.17, y=0.3)),
        _alone(c, 68, SECONDS),
    )
    return {"shots": shots, "truth": (Truth("multiple_faces", 25, 45), Truth("multiple_faces", 60, 68))}


def _events_visitor_closer(c: Cast) -> dict[str, object]:
    shots = (
        _alone(c, 0, 25),
        _with(c, 25, 50, c.student(face=140, x=0.33), c.visitor(face=210, x=0.68, y=0.45)),
        _alone(c, 50, SECONDS),
    )
    return {"shots": shots, "truth": (Truth("multiple_faces", 25, 50),)}


def _events_stand_in(c: Cast) -> dict[str, object]:
    shots = (_alone(c, 0, 25), _with(c, 25, 55, c.visitor()), _alone(c, 55, SECONDS))
    return {"shots": shots, "truth": (Truth("face_mismatch", 25, 55),)}


def _events_others_only(c: Cast) -> dict[str, object]:
    shots = (
        _alone(c, 0, 25),
        _with(c, 25, 45, c.visitor(face=160, x=0.36), c.third(face=140, x=0.72, y=0.36)),
        _alone(c, 45, SECONDS),
    )
    return {"shots": shots, "truth": (Truth("multiple_faces", 25, 45), Truth("face_mismatch", 25, 45))}


def _events_speech(c: Cast) -> dict[str, object]:
    return {"shots": (_alone(c, 0, SECONDS),), "speech": ((15, 18.5), (42, 54))}


def _events_speech_in_noise(c: Cast, noise: str) -> dict[str, object]:
    return {
        "shots": (_alone(c, 0, SECONDS),),
        "speech": ((20, 24), (50, 60)),
        "noise": noise,
        "noise_levels": ((0.0, -40.0), (35.0, -32.0)),
    }


def _trap(**shot: object) -> Callable[[Cast], dict[str, object]]:
    return lambda c: {"shots": (_alone(c, 0, SECONDS, **shot),)}


def _trap_person(start: float, end: float, **placing: object) -> Callable[[Cast], dict[str, object]]:
    def build(c: Cast) -> dict[str, object]:
        return {
            "shots": (
                _alone(c, 0, start),
                _with(c, start, end, c.student(**placing)),
                _alone(c, end, SECONDS),
            )
        }

    return build


def _trap_short_absence(c: Cast) -> dict[str, object]:
    return {"shots": (_alone(c, 0, 30), _with(c, 30, 33), _alone(c, 33, SECONDS))}


def _trap_lights_off(c: Cast) -> dict[str, object]:
    shots = (_alone(c, 0, 25), _alone(c, 25, 45, light=0.0), _alone(c, 45, SECONDS))
    return {"shots": shots, "truth": (Truth("camera_dark", 25, 45),)}


def _trap_turned_beside(c: Cast) -> dict[str, object]:
    shots = (
        _alone(c, 0, 25),
        _with(c, 25, 50, c.student(turn=40), c.visitor(face=120, x=0.8, y=0.32)),
        _alone(c, 50, SECONDS),
    )
    return {"shots": shots, "truth": (Truth("multiple_faces", 25, 50),)}


def _trap_cup(c: Cast) -> dict[str, object]:
    shots = (
        _alone(c, 0, 30),
        _with(c, 30, 38, c.student(cover="cup")),
        _alone(c, 38, 50),
        _with(c, 50, 56, c.student(cover="cup")),
        _alone(c, 56, SECONDS),
    )
    return {"shots": shots}


CONDITIONS: tuple[Condition, ...] = (
    Condition("absence", "the student leaves twice: 20 s and 6 s", _events_absence),
    Condition("visitor", "someone beside or behind her: 20 s and 8 s", _events_visitor),
    Condition("visitor_closer", "someone closer to the camera than she is, 25 s", _events_visitor_closer),
    Condition("stand_in", "another person takes her seat for 30 s", _events_stand_in),
    Condition("others_only", "she is gone and two other people are in view, 20 s", _events_others_only),
    Condition("speech", "someone speaks: a sentence of about 3.5 s, then 12 s", _events_speech),
    Condition("clean", "alone in a quiet room", _trap(), trap=True),
    Condition("short_absence", "away for 3 s only", _trap_short_absence, trap=True),
    Condition("dim", "a dim room (30% light)", _trap(light=0.3), trap=True),
    Condition("lights_off", "the light goes off for 20 s: too dark to see", _trap_lights_off, trap=True),
    Condition("far", "sitting far from the camera (face 70 px wide)", _trap_person(0, SECONDS, face=70), trap=True),
    Condition("blurred", "an out-of-focus camera", _trap(blur=2.5), trap=True),
    Condition("backlight", "a bright window behind her", _trap(backlight=True), trap=True),
    Condition("flicker", "flickering light", _trap(flicker=0.15), trap=True),
    Condition("head_turned", "her head turned about 45 degrees for 30 s", _trap_person(25, 55, turn=45), trap=True),
    Condition(
        "turned_beside",
        "her head turned about 40 degrees beside another person (a second face, not a stranger)",
        _trap_turned_beside,
        trap=True,
    ),
    Condition("hand", "a hand over her mouth and chin for 25 s", _trap_person(20, 45, cover="hand"), trap=True),
    Condition("cup", "drinking from a mug: 8 s and 6 s", _trap_cup, trap=True),
)

#: Conditions recorded again with sparser keyframes (as Firefox and Safari record), to compare.
KEYFRAME_CONDITIONS = ("absence", "visitor", "stand_in")
KEYFRAME_SPACINGS = (5.0, 10.0)


def _scenario(half: Half, index: int, condition: Condition, cast: Cast, **extra: object) -> Scenario:
    built = {**condition.build(cast), **extra}
    voice = half.voices[index % len(half.voices)]
    base = Scenario(
        name=f"{half.name}-{condition.name}-{cast.me.name.split()[-1].lower()}",
        seconds=SECONDS,
        shots=(),
        enrol_photo=cast.me.enrol,
        noise=half.quiet,
        noise_levels=((0.0, QUIET_DB),),
        voice=voice,
        sentences=half.sentences,
        seed=half.seed + index,
        condition=condition.name,
        half=half.name,
        person=cast.me.name,
        trap=condition.trap,
        description=condition.description,
    )
    item = replace(base, **built)  # type: ignore[arg-type]
    if item.speech:
        # Speech ends on a sound, so its truth is where the made sentences begin and end.
        _, spans = render_audio(item)
        item = replace(item, truth=(*item.truth, *(Truth("speech", start, end) for start, end in spans)))
    return item


def scenarios(half: Half) -> tuple[Scenario, ...]:
    """Every condition for every student of the half, the keyframe variants, and one recording per
    noise family (the steady ones and typing; alternating students), with level steps from -35 to
    -15 dBFS."""
    found: list[Scenario] = []
    index = 0
    for position, me in enumerate(half.students):
        cast = Cast(me, half.students[(position + 1) % len(half.students)])
        for condition in CONDITIONS:
            found.append(_scenario(half, index, condition, cast))
            index += 1
            if condition.name in KEYFRAME_CONDITIONS:
                for spacing in KEYFRAME_SPACINGS:
                    item = _scenario(half, index, condition, cast, keyframe_seconds=spacing)
                    found.append(
                        replace(
                            item, name=f"{item.name}-key{spacing:g}s", condition=f"{condition.name} (key {spacing:g} s)"
                        )
                    )
                    index += 1
    for position, noise in enumerate(half.noises):
        me = half.students[position % len(half.students)]
        cast = Cast(me, half.students[(position + 1) % len(half.students)])
        steady = Condition(
            f"noise_{noise}",
            f"{noise} noise stepping from -35 to -15 to -25 dBFS",
            lambda c, noise=noise: {
                "shots": (_alone(c, 0, SECONDS),),
                "noise": noise,
                "noise_levels": ((0.0, -35.0), (25.0, -15.0), (55.0, -25.0)),
            },
            trap=True,
        )
        found.append(_scenario(half, index, steady, cast))
        index += 1
        talking = Condition(
            f"speech_over_{noise}",
            f"speech (4 s, then 10 s) over {noise} noise at -40 then -32 dBFS",
            lambda c, noise=noise: _events_speech_in_noise(c, noise),
        )
        found.append(_scenario(half, index, talking, cast))
        index += 1
    return tuple(found)
