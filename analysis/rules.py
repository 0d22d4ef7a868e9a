"""What becomes a flag: the flag types, the thresholds each exam sensitivity sets, the merging of
neighbouring evidence into time ranges, severity, plain-language reasons and the session score.

Pure code: dataclasses in, dataclasses out, no Django. Every number a flag depends on is here, so a
flag can say exactly which thresholds produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

#: Evidence.measure of speech the voice model heard: its strength is a mean probability, not a margin.
SPEECH_PROBABILITY = "speech_probability"


class Category(StrEnum):
    #: Something a reviewer may want to look at. Never a finding of misconduct by itself.
    CONCERN = "concern"
    #: Equipment or network trouble (camera lost, a gap in the upload): never misconduct.
    TECHNICAL = "technical"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Kind(StrEnum):
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_MISMATCH = "face_mismatch"
    SPEECH = "speech"
    TAB_HIDDEN = "tab_hidden"
    WINDOW_BLUR = "window_blur"
    FULLSCREEN_EXIT = "fullscreen_exit"
    COPY = "copy"
    PASTE = "paste"
    EXTRA_DISPLAY = "extra_display"
    SCREEN_SHARE_LOST = "screen_share_lost"
    CAMERA_LOST = "camera_lost"
    RECORDING_GAP = "recording_gap"
    WEBCAM_NOT_RECORDED = "webcam_not_recorded"
    SCREEN_NOT_RECORDED = "screen_not_recorded"
    CAMERA_DARK = "camera_dark"


@dataclass(frozen=True)
class KindRule:
    label: str
    category: Category
    detector: str
    #: Weight of one flagged minute in the session score; technical events weigh nothing.
    weight: float
    severity: Severity
    #: From this many seconds on, the severity is one step higher.
    escalate_after: float | None
    #: Neighbouring evidence closer than this is one flag.
    merge_gap: float
    #: What the student reads: "{span}" is replaced by the time range and duration.
    reason: str


def _technical(label: str, detector: str, reason: str) -> KindRule:
    """A technical event: information for the reviewer, never a concern, weighing nothing in the score."""
    return KindRule(label, Category.TECHNICAL, detector, 0.0, Severity.INFO, None, 1.0, reason)


RULES: dict[Kind, KindRule] = {
    Kind.NO_FACE: KindRule(
        "No face in view",
        Category.CONCERN,
        "face-presence",
        1.0,
        Severity.LOW,
        60,
        2.0,
        "No face could be seen on the webcam {span}. This also happens when someone looks down at paper, "
        "leans out of view or the light changes.",
    ),
    Kind.MULTIPLE_FACES: KindRule(
        "More than one face",
        Category.CONCERN,
        "face-presence",
        2.0,
        Severity.MEDIUM,
        30,
        2.0,
        "More than one face was seen on the webcam {span}.{who} A photo or poster in view can cause this too.",
    ),
    Kind.FACE_MISMATCH: KindRule(
        "Face did not match",
        Category.CONCERN,
        "face-verification",
        3.0,
        Severity.HIGH,
        None,
        2.0,
        "{whose} the face enrolled for this student {span}. Lighting, glasses or the camera angle can also "
        "cause a mismatch.",
    ),
    Kind.SPEECH: KindRule(
        "Speech",
        Category.CONCERN,
        "voice-activity",
        1.0,
        Severity.LOW,
        30,
        2.0,
        "Someone was speaking {span}. Reading questions aloud or noise from outside the room also counts as speech.",
    ),
    Kind.TAB_HIDDEN: KindRule(
        "Exam tab hidden",
        Category.CONCERN,
        "browser-signals",
        2.0,
        Severity.MEDIUM,
        60,
        1.0,
        "The browser reported the exam tab was hidden {span}, for example by switching to another tab.",
    ),
    Kind.WINDOW_BLUR: KindRule(
        "Browser window not focused",
        Category.CONCERN,
        "browser-signals",
        0.5,
        Severity.LOW,
        60,
        1.0,
        "The browser reported its window was not the active window {span}. A system notification can cause this too.",
    ),
    Kind.FULLSCREEN_EXIT: KindRule(
        "Left full screen",
        Category.CONCERN,
        "browser-signals",
        1.0,
        Severity.LOW,
        60,
        1.0,
        "The browser reported the exam left full screen {span}.",
    ),
    Kind.COPY: KindRule(
        "Copied text",
        Category.CONCERN,
        "browser-signals",
        0.5,
        Severity.LOW,
        None,
        1.0,
        "The browser reported text was copied {span}.",
    ),
    Kind.PASTE: KindRule(
        "Pasted text",
        Category.CONCERN,
        "browser-signals",
        1.0,
        Severity.LOW,
        None,
        1.0,
        "The browser reported text was pasted into the exam {span}.",
    ),
    Kind.EXTRA_DISPLAY: KindRule(
        "Another display",
        Category.CONCERN,
        "browser-signals",
        1.0,
        Severity.MEDIUM,
        None,
        1.0,
        "The browser reported another display was connected {span}.",
    ),
    Kind.SCREEN_SHARE_LOST: _technical(
        "Screen not shared",
        "browser-signals",
        "The screen was not being shared {span}, so that part of the screen recording is missing. This is a "
        "technical event: a crash, the browser, or the Stop sharing button can end a screen share.",
    ),
    Kind.CAMERA_LOST: _technical(
        "Camera lost",
        "browser-signals",
        "The camera stopped sending video {span}. This is a technical event, not misconduct.",
    ),
    Kind.RECORDING_GAP: _technical(
        "Recording gap",
        "recording-continuity",
        "Part of the recording never reached the server {span}, usually because of the network. This is "
        "a technical event, not misconduct.",
    ),
    Kind.WEBCAM_NOT_RECORDED: _technical(
        "No webcam recording",
        "recording-continuity",
        "No webcam recording exists {span}: the camera was not being recorded, or what was recorded never "
        "reached the server. This is a technical event, not misconduct, and nothing was analysed then.",
    ),
    Kind.CAMERA_DARK: _technical(
        "Camera image too dark",
        "face-presence",
        "The camera image was too dark to see a face {span}. This is a technical event, not misconduct: "
        "the light may have gone off or the camera may have been covered.",
    ),
    Kind.SCREEN_NOT_RECORDED: _technical(
        "No screen recording",
        "recording-continuity",
        "No screen recording exists {span}: the screen was not being shared, or what was recorded never "
        "reached the server. This is a technical event, not misconduct.",
    ),
}


#: What is known to raise each kind of flag without any misconduct, shown with every flag and stored on
#: it: a reviewer weighs a flag against these before anything else.
FALSE_ALARM_CAUSES: dict[Kind, tuple[str, ...]] = {
    Kind.NO_FACE: (
        "looking down at allowed paper or a calculator",
        "leaning out of the picture, or a camera that slipped",
        "a dim or backlit room, or the light changing",
        "a face partly covered by a hand, a cup or a face covering",
    ),
    Kind.MULTIPLE_FACES: (
        "a photo, poster or screen with a face in view",
        "someone passing behind without helping",
        "a reflection in a window or a mirror",
    ),
    Kind.FACE_MISMATCH: (
        "lighting very different from enrolment",
        "glasses, a new haircut or a face covering",
        "a strong camera angle or a low-quality camera",
        "face recognition works less well for some skin tones and ages",
    ),
    Kind.SPEECH: (
        "reading questions aloud, or a screen reader or dictation the student is allowed",
        "voices from outside the room: a television, a neighbour, the street",
        "coughing, sighing or talking to oneself",
    ),
    Kind.TAB_HIDDEN: (
        "a system dialog or an operating-system notification",
        "an assistive-technology window",
        "a browser or computer that went to sleep",
    ),
    Kind.WINDOW_BLUR: (
        "a system notification or dialog taking the focus",
        "clicking outside the browser by mistake",
        "assistive technology such as a screen magnifier",
    ),
    Kind.FULLSCREEN_EXIT: (
        "pressing Escape by mistake",
        "a browser or system dialog ending full screen",
    ),
    Kind.COPY: ("selecting text to read it more easily", "a keyboard shortcut pressed by mistake"),
    Kind.PASTE: ("pasting the student's own text back after editing", "a keyboard shortcut pressed by mistake"),
    Kind.EXTRA_DISPLAY: (
        "a laptop docked to a monitor that is switched off",
        "a projector or TV the system still lists",
    ),
    Kind.SCREEN_SHARE_LOST: ("a browser crash or restart", "the system ending the share after sleep"),
    Kind.CAMERA_LOST: ("a loose USB cable", "another program taking the camera", "the computer going to sleep"),
    Kind.RECORDING_GAP: ("an unreliable network connection", "the browser closed before the upload finished"),
    Kind.WEBCAM_NOT_RECORDED: ("a camera that failed to start", "a network that did not carry the upload"),
    Kind.SCREEN_NOT_RECORDED: ("a screen share that failed to start", "a network that did not carry the upload"),
    Kind.CAMERA_DARK: ("the room light going off", "a camera cover or a hand over the lens"),
}


@dataclass(frozen=True)
class Thresholds:
    """The numbers one exam sensitivity sets. Lower sensitivity is stricter on evidence: every number
    moves so that it can only remove flags, never add them."""

    sensitivity: str
    #: A flag must span at least this many seconds.
    min_seconds: Mapping[Kind, float]
    #: Face-encoding distance above which a face does not match the enrolled one.
    match_distance: float
    #: A speech frame must be this many decibels above the recording's noise floor.
    speech_margin_db: float
    #: A stretch the voice model heard must have at least this mean probability of speech.
    speech_probability: float

    def evidence_threshold(self, piece: Evidence) -> float | None:
        """The strength this piece of evidence must exceed (or, for a probability, reach), when its kind
        has one."""
        if piece.kind == Kind.FACE_MISMATCH:
            return self.match_distance
        if piece.kind == Kind.SPEECH:
            return self.speech_probability if piece.measure == SPEECH_PROBABILITY else self.speech_margin_db
        return None

    def passes(self, piece: Evidence) -> bool:
        threshold = self.evidence_threshold(piece)
        if threshold is None or piece.strength is None:
            return True
        if piece.measure == SPEECH_PROBABILITY:
            return piece.strength >= threshold
        return piece.strength > threshold

    def for_kind(self, kind: Kind) -> dict[str, Any]:
        """The thresholds a flag of this kind depended on, to be stored with it."""
        values: dict[str, Any] = {"sensitivity": self.sensitivity, "min_seconds": self.min_seconds.get(kind, 0.0)}
        values["merge_gap_seconds"] = RULES[kind].merge_gap
        if kind == Kind.FACE_MISMATCH:
            values["match_distance"] = self.match_distance
        if kind == Kind.SPEECH:
            values["speech_margin_db"] = self.speech_margin_db
            values["speech_probability"] = self.speech_probability
        return values


def _minimums(
    *, no_face: float, faces: float, mismatch: float, speech: float, tab: float, blur: float, screen: float
) -> dict[Kind, float]:
    return {
        Kind.NO_FACE: no_face,
        Kind.MULTIPLE_FACES: faces,
        Kind.FACE_MISMATCH: mismatch,
        Kind.SPEECH: speech,
        Kind.TAB_HIDDEN: tab,
        Kind.WINDOW_BLUR: blur,
        Kind.FULLSCREEN_EXIT: screen,
        # A moment of darkness (a hand passing the lens) is not worth a reviewer's time.
        Kind.CAMERA_DARK: 3.0,
    }


THRESHOLDS: dict[str, Thresholds] = {
    "low": Thresholds(
        "low",
        _minimums(no_face=10, faces=6, mismatch=6, speech=6, tab=5, blur=10, screen=5),
        match_distance=0.68,
        speech_margin_db=14,
        speech_probability=0.7,
    ),
    "standard": Thresholds(
        "standard",
        _minimums(no_face=4, faces=3, mismatch=3, speech=3, tab=2, blur=4, screen=2),
        match_distance=0.6,
        speech_margin_db=10,
        speech_probability=0.6,
    ),
    "high": Thresholds(
        "high",
        _minimums(no_face=2, faces=1, mismatch=1, speech=1.5, tab=0, blur=1, screen=0),
        match_distance=0.55,
        speech_margin_db=7,
        speech_probability=0.5,
    ),
}


#: The most inclusive settings: evidence it rejects is evidence of nothing at any sensitivity.
LEAST_STRICT = THRESHOLDS["high"]


#: The flag types behind each check an exam can switch off (exams.models.Check values). Technical events
#: are in none: equipment trouble is always shown, and never counts against anyone.
CHECK_KINDS: dict[str, frozenset[Kind]] = {
    "no_face": frozenset({Kind.NO_FACE}),
    "multiple_faces": frozenset({Kind.MULTIPLE_FACES}),
    "face_mismatch": frozenset({Kind.FACE_MISMATCH}),
    "speech": frozenset({Kind.SPEECH}),
    "leaving_page": frozenset({Kind.TAB_HIDDEN, Kind.WINDOW_BLUR, Kind.FULLSCREEN_EXIT}),
    "copy_paste": frozenset({Kind.COPY, Kind.PASTE}),
    "extra_display": frozenset({Kind.EXTRA_DISPLAY}),
}


@dataclass(frozen=True)
class Exemptions:
    """Detectors an accommodation (or the exam's own settings) switches off before they fire."""

    no_video: bool = False
    no_audio: bool = False
    no_screen: bool = False
    speech_allowed: bool = False
    face_covering: bool = False
    #: Breaks the student took under their accommodation, as [start, end) in seconds into the attempt:
    #: nothing is flagged for that time.
    breaks: tuple[tuple[float, float], ...] = ()
    #: Checks the exam does not run (CHECK_KINDS keys), each with a note in words saying which and why.
    checks_off: Mapping[str, str] = field(default_factory=dict)

    def allows(self, kind: Kind) -> bool:
        if any(kind in CHECK_KINDS[check] for check in self.checks_off):
            return False
        if kind in (Kind.NO_FACE, Kind.MULTIPLE_FACES, Kind.FACE_MISMATCH, Kind.CAMERA_DARK) and self.no_video:
            return False
        # A covered face can be neither verified nor reliably seen; a second, uncovered face still can.
        if kind in (Kind.NO_FACE, Kind.FACE_MISMATCH) and self.face_covering:
            return False
        return not (kind == Kind.SPEECH and (self.no_audio or self.speech_allowed))

    def reasons(self) -> list[str]:
        notes = []
        if self.no_video:
            notes.append("no webcam: face checks off")
        if self.face_covering:
            notes.append("face covering: face verification and the absent-face check off")
        if self.speech_allowed:
            notes.append("speech allowed: voice-activity check off")
        elif self.no_audio:
            notes.append("no microphone: voice-activity check off")
        if self.breaks:
            minutes = sum(end - start for start, end in self.breaks) / 60
            count = len(self.breaks)
            notes.append(
                f"{count} break{'s' if count != 1 else ''} ({minutes:.0f} min in all): nothing flagged during them"
            )
        notes += [note for _, note in sorted(self.checks_off.items())]
        return notes

    def outside_breaks(self, piece: Evidence) -> list[Evidence]:
        """The parts of ``piece`` outside the breaks (itself, when it touches none)."""
        parts = [piece]
        for start, end in self.breaks:
            kept = []
            for part in parts:
                if part.end <= start or part.start >= end:
                    kept.append(part)
                    continue
                for low, high in ((part.start, start), (end, part.end)):
                    if high > low:
                        moment = None if part.moment is None else min(max(part.moment, low), high)
                        kept.append(replace(part, start=low, end=high, moment=moment))
            parts = kept
        return parts


@dataclass(frozen=True)
class Evidence:
    """One observation standing for the time range [start, end) of the session, in seconds."""

    kind: Kind
    start: float
    end: float
    confidence: float
    #: When the clearest picture of it was taken, for the evidence thumbnail.
    moment: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: What a sensitivity threshold is compared with (a face distance, a margin in dB), if anything.
    strength: float | None = None
    #: What the strength measures when a kind has more than one measure: SPEECH_PROBABILITY for the
    #: voice model's speech (analysis/voicemodel.py); empty for the kind's usual one.
    measure: str = ""


@dataclass(frozen=True)
class Event:
    """Merged evidence: one future flag."""

    kind: Kind
    start: float
    end: float
    confidence: float
    moment: float | None
    detail: Mapping[str, Any]

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _groups(pieces: Iterable[Evidence], gap: float) -> list[list[Evidence]]:
    """Evidence whose ranges overlap or lie within ``gap`` seconds of each other, grouped."""
    groups: list[list[Evidence]] = []
    end = 0.0
    for piece in sorted(pieces, key=lambda e: (e.start, e.end)):
        if groups and piece.start - end <= gap:
            groups[-1].append(piece)
            end = max(end, piece.end)
        else:
            groups.append([piece])
            end = piece.end
    return groups


def _event(group: list[Evidence]) -> Event:
    """One range over the group: the duration-weighted mean confidence, the surest piece's moment."""
    weights = [max(p.end - p.start, 1e-3) for p in group]
    confidence = sum(p.confidence * w for p, w in zip(group, weights, strict=True)) / sum(weights)
    best = max(group, key=lambda p: p.confidence)
    detail: dict[str, Any] = {}
    for piece in group:
        for key, value in piece.detail.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                detail[key] = max(detail.get(key, value), value)
            else:
                detail.setdefault(key, value)
    start, end = min(p.start for p in group), max(p.end for p in group)
    return Event(group[0].kind, start, end, round(confidence, 3), best.moment, detail)


def _with_presence(event: Event, group: list[Evidence], thresholds: Thresholds) -> Event:
    """Whether the enrolled student was among several faces, by this sensitivity's match distance: she
    counts as present when some face matched her for at least half of the measured time."""
    measured = [(p.end - p.start, p.detail["student_distance"]) for p in group if "student_distance" in p.detail]
    detail = {key: value for key, value in event.detail.items() if key != "student_distance"}
    if measured:
        present = sum(span for span, distance in measured if distance <= thresholds.match_distance)
        detail["student_present"] = present >= sum(span for span, _ in measured) / 2
    return replace(event, detail=detail)


def events_from(evidence: Iterable[Evidence], thresholds: Thresholds, exemptions: Exemptions) -> list[Event]:
    """Every kind's evidence merged under its own rule; exempted kinds dropped before anything else.

    Neighbours are found among the evidence the least strict sensitivity accepts; within each such
    group, only the evidence this sensitivity accepts makes the flag. So a stricter sensitivity can
    shorten or drop a flag but never split one in two: it never adds flags, nor flagged time.
    """
    by_kind: dict[Kind, list[Evidence]] = {}
    for piece in evidence:
        if exemptions.allows(piece.kind) and LEAST_STRICT.passes(piece):
            by_kind.setdefault(piece.kind, []).extend(exemptions.outside_breaks(piece))
    events: list[Event] = []
    for kind, pieces in by_kind.items():
        for group in _groups(pieces, RULES[kind].merge_gap):
            kept = [piece for piece in group if thresholds.passes(piece)]
            if kept:
                event = _event(kept)
                if kind == Kind.MULTIPLE_FACES:
                    event = _with_presence(event, kept, thresholds)
                if event.seconds >= thresholds.min_seconds.get(kind, 0.0):
                    events.append(event)
    return sorted(events, key=lambda e: (e.start, e.kind))


def severity(event: Event) -> Severity:
    rule = RULES[event.kind]
    order = list(Severity)
    if event.kind == Kind.MULTIPLE_FACES and event.detail.get("student_present") is False:
        # Nobody in view is the student: a higher concern than a visitor beside her.
        return Severity.HIGH
    if rule.escalate_after is not None and event.seconds >= rule.escalate_after:
        return order[min(order.index(rule.severity) + 1, len(order) - 1)]
    return rule.severity


def clock(seconds: float) -> str:
    """Seconds into the exam as h:mm:ss or m:ss."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration_words(seconds: float) -> str:
    whole = max(1, round(seconds))
    if whole < 60:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes, secs = divmod(whole, 60)
    text = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{text} {secs} second{'s' if secs != 1 else ''}" if secs else text


def reason(event: Event) -> str:
    if event.seconds < 1.5:
        span = f"at {clock(event.start)} into the exam"
    else:
        span = f"from {clock(event.start)} to {clock(event.end)} into the exam ({duration_words(event.seconds)})"
    faces = event.detail.get("faces")
    if event.kind == Kind.MULTIPLE_FACES:
        present = event.detail.get("student_present")
        who = (
            {
                True: " The enrolled student was one of them.",
                False: " None of them matched the face enrolled for this student.",
            }.get(present, "")
            if isinstance(present, bool)
            else ""
        )
        return RULES[event.kind].reason.format(span=span, who=who)
    if event.kind == Kind.FACE_MISMATCH:
        whose = (
            f"None of the {faces} faces on the webcam matched"
            if isinstance(faces, int) and faces > 1
            else "The face on the webcam did not match"
        )
        return RULES[event.kind].reason.format(span=span, whose=whose)
    return RULES[event.kind].reason.format(span=span)


#: An instant event (a paste) still counts for this long in the score, so it is visible there.
MIN_COUNTED_SECONDS = 5.0


@dataclass(frozen=True)
class ScoreLine:
    kind: Kind
    flags: int
    minutes: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class Score:
    """Weighted flagged minutes per recorded hour, with the lines it adds up from."""

    value: float
    recorded_hours: float
    lines: tuple[ScoreLine, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "recorded_hours": self.recorded_hours,
            "formula": "sum over flag types of weight x flagged minutes, divided by recorded hours",
            "lines": [
                {
                    "kind": str(line.kind),
                    "label": RULES[line.kind].label,
                    "flags": line.flags,
                    "minutes": line.minutes,
                    "weight": line.weight,
                    "contribution": line.contribution,
                }
                for line in self.lines
            ],
        }


def score(events: Iterable[Event], *, recorded_seconds: float) -> Score:
    hours = max(recorded_seconds, 60.0) / 3600
    totals: dict[Kind, list[float]] = {}
    for event in events:
        totals.setdefault(event.kind, []).append(max(event.seconds, MIN_COUNTED_SECONDS))
    lines = []
    for kind in sorted(totals, key=lambda k: list(Kind).index(k)):
        minutes = sum(totals[kind]) / 60
        weight = RULES[kind].weight
        lines.append(ScoreLine(kind, len(totals[kind]), round(minutes, 2), weight, round(weight * minutes / hours, 2)))
    return Score(round(sum(line.contribution for line in lines), 2), round(hours, 3), tuple(lines))


def evidence_to_dict(piece: Evidence) -> dict[str, Any]:
    """Evidence as plain JSON, to be kept between the stretches of an analysis."""
    return {
        "kind": piece.kind.value,
        "start": piece.start,
        "end": piece.end,
        "confidence": piece.confidence,
        "moment": piece.moment,
        "detail": dict(piece.detail),
        "strength": piece.strength,
        "measure": piece.measure,
    }


def evidence_from_dict(data: Mapping[str, Any]) -> Evidence:
    return Evidence(
        Kind(data["kind"]),
        float(data["start"]),
        float(data["end"]),
        float(data["confidence"]),
        None if data.get("moment") is None else float(data["moment"]),
        dict(data.get("detail") or {}),
        None if data.get("strength") is None else float(data["strength"]),
        str(data.get("measure") or ""),
    )
