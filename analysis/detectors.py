"""The detectors Invigil runs, declared: what each measures, what it reads, which flags it raises and
its version. A detector exists only by being registered here, and registration refuses what Invigil
never measures (emotion or affect, keystroke dynamics, room scans, and the like): the list of what a
detector may measure is closed.

Pure code, no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from analysis.rules import RULES, Kind


class Measure(StrEnum):
    """Everything a detector may measure. Adding to this list is a privacy decision, not a code change."""

    FACE_PRESENCE = "whether a face is in view, and how many"
    FACE_IDENTITY = "whether a face in view is the enrolled student's (1:1, never a search of others)"
    IMAGE_DARKNESS = "whether the camera image is too dark to see a face"
    VOICE_ACTIVITY = "whether someone is speaking, not who or what is said"
    PAGE_EVENTS = "what the exam page reports: tab hidden, focus lost, full screen left, copy, paste, displays"
    RECORDING_CONTINUITY = "which stretches of the recording are missing"


class Source(StrEnum):
    WEBCAM_VIDEO = "webcam video"
    WEBCAM_AUDIO = "webcam microphone"
    PAGE = "the exam page's events"
    UPLOADS = "the record of what was uploaded"


#: Inferences Invigil never makes, whatever a detector is called or however it is described: emotion and
#: affect (the EU AI Act forbids them in education), personality or traits, keystroke dynamics and
#: typing biometrics, gaze or eye tracking, room scans, and any 1:N search of faces or voices.
FORBIDDEN = (
    "emotion",
    "affect",
    "mood",
    "sentiment",
    "personality",
    "keystroke",
    "typing rhythm",
    "typing pattern",
    "gaze",
    "eye track",
    "room scan",
    "room-scan",
    "1:n",
    "speaker identification",
    "voiceprint",
)


class ForbiddenDetector(ValueError):
    """A detector that would measure something Invigil never measures."""


@dataclass(frozen=True)
class Detector:
    name: str
    version: str
    #: What it does, in a sentence a student can read.
    description: str
    measures: frozenset[Measure]
    reads: frozenset[Source]
    kinds: frozenset[Kind]


def detector_problems(detector: Detector) -> list[str]:
    """Why ``detector`` may not run, or nothing."""
    problems = []
    text = f"{detector.name} {detector.description}".lower()
    for word in FORBIDDEN:
        if re.search(rf"(?<![a-z]){re.escape(word)}", text):
            problems.append(f"{detector.name}: Invigil never measures {word}.")
    for measure in detector.measures:
        if not isinstance(measure, Measure):
            problems.append(f"{detector.name}: {measure!r} is not on the closed list of what a detector may measure.")
    if not detector.measures:
        problems.append(f"{detector.name}: a detector must say what it measures.")
    for kind in detector.kinds:
        if RULES[kind].detector != detector.name:
            problems.append(f"{detector.name}: the rules give flag type {kind} to {RULES[kind].detector}.")
    return problems


def register(registry: dict[str, Detector], detector: Detector) -> Detector:
    """Add ``detector`` to ``registry``, refusing one that measures what Invigil never measures."""
    problems = detector_problems(detector)
    if detector.name in registry:
        problems.append(f"{detector.name}: registered twice.")
    if problems:
        raise ForbiddenDetector(" ".join(problems))
    registry[detector.name] = detector
    return detector


DETECTORS: dict[str, Detector] = {}

register(
    DETECTORS,
    Detector(
        "face-presence",
        "2.0",
        "Counts the faces in the webcam picture about once a second, with a second detector asked before "
        "a missing face stands, and notes when the picture is too dark to see one.",
        frozenset({Measure.FACE_PRESENCE, Measure.IMAGE_DARKNESS}),
        frozenset({Source.WEBCAM_VIDEO}),
        frozenset({Kind.NO_FACE, Kind.MULTIPLE_FACES, Kind.CAMERA_DARK}),
    ),
)
register(
    DETECTORS,
    Detector(
        "face-verification",
        "2.0",
        "Compares each face in view with the face the student enrolled, and no one else's, when the "
        "student agreed to face matching.",
        frozenset({Measure.FACE_IDENTITY}),
        frozenset({Source.WEBCAM_VIDEO}),
        frozenset({Kind.FACE_MISMATCH}),
    ),
)
register(
    DETECTORS,
    Detector(
        "voice-activity",
        "3.0",
        "Finds stretches where a voice stands above the room's own noise, by its bands and, as a second "
        "opinion, by a small voice-activity model (Silero VAD) run on the worker; it keeps no audio and does "
        "not know who spoke or what was said.",
        frozenset({Measure.VOICE_ACTIVITY}),
        frozenset({Source.WEBCAM_AUDIO}),
        frozenset({Kind.SPEECH}),
    ),
)
register(
    DETECTORS,
    Detector(
        "browser-signals",
        "1.0",
        "Turns what the exam page reported (tab hidden, window not focused, full screen left, copy, paste, "
        "another display, the camera or screen share ending) into time ranges.",
        frozenset({Measure.PAGE_EVENTS}),
        frozenset({Source.PAGE}),
        frozenset(
            {
                Kind.TAB_HIDDEN,
                Kind.WINDOW_BLUR,
                Kind.FULLSCREEN_EXIT,
                Kind.COPY,
                Kind.PASTE,
                Kind.EXTRA_DISPLAY,
                Kind.SCREEN_SHARE_LOST,
                Kind.CAMERA_LOST,
            }
        ),
    ),
)
register(
    DETECTORS,
    Detector(
        "recording-continuity",
        "1.0",
        "Notes the stretches of the exam that no recording covers, or whose upload never arrived.",
        frozenset({Measure.RECORDING_CONTINUITY}),
        frozenset({Source.UPLOADS}),
        frozenset({Kind.RECORDING_GAP, Kind.WEBCAM_NOT_RECORDED, Kind.SCREEN_NOT_RECORDED}),
    ),
)

#: Each detector's version, stored with every run and every flag it raised.
DETECTOR_VERSIONS = {name: detector.version for name, detector in DETECTORS.items()}
