"""Reads for reviewers: the course dashboard and its export, in a constant number of queries per page
or batch whatever the course's size, and one session's review."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Prefetch, QuerySet, Subquery

from analysis.models import AnalysisRun, Flag, RunStatus
from analysis.rules import RULES, Category, Kind, clock
from exams.lifecycle import COMPLETED, NOT_READY_FOR_REVIEW, TO_REVIEW
from exams.marking import decimal_text, marks_of_sessions
from exams.models import Course, Exam, ExamSession, Question
from exams.models import SessionStatus as S
from exams.permissions import Action, can
from identity.models import IdentityCheck, IdentityCheckKind, IdentityProfile, ManualDecision
from recordings.models import Recording, RecordingStatus
from recordings.selectors import recording_span
from review.models import Appeal, FlagDecision, Outcome, SessionDecision, Verdict

PAGE_SIZE = 50

#: Review states a reviewer filters by, as groups of session statuses.
REVIEW_STATES: dict[str, tuple[str, frozenset[str]]] = {
    "to_review": ("Awaiting review", TO_REVIEW),
    "second_review": ("Awaiting second review", frozenset({S.SECOND_REVIEW})),
    "appealed": ("Under appeal", frozenset({S.APPEALED})),
    "decided": ("Decided", COMPLETED),
    "not_ready": ("Not ready for review", NOT_READY_FOR_REVIEW),
}


@dataclass(frozen=True)
class FlagCount:
    kind: str
    label: str
    technical: bool
    count: int


@dataclass
class DashboardRow:
    session: ExamSession
    flags: list[FlagCount] = field(default_factory=list)

    @property
    def concerns(self) -> int:
        return sum(f.count for f in self.flags if not f.technical)


@dataclass
class Dashboard:
    page: Page[Any]
    rows: list[DashboardRow]
    exams: list[Exam]


def _sessions(
    course: Course, *, exam_id: int | None, flag_kind: str | None, state: str | None
) -> QuerySet[ExamSession]:
    runs = AnalysisRun.objects.filter(session=OuterRef("pk")).order_by("-started_at", "-id")
    sessions = (
        ExamSession.objects.filter(exam__course=course)
        .select_related("student", "exam")
        .annotate(
            score=Subquery(runs.filter(status=RunStatus.SUCCEEDED).values("score")[:1]),
            run_status=Subquery(runs.values("status")[:1]),
            run_progress=Subquery(runs.values("progress")[:1]),
            run_stage=Subquery(runs.values("stage")[:1]),
        )
    )
    if exam_id is not None:
        sessions = sessions.filter(exam_id=exam_id)
    if flag_kind is not None:
        sessions = sessions.filter(Exists(Flag.objects.filter(session=OuterRef("pk"), kind=flag_kind)))
    if state is not None:
        sessions = sessions.filter(status__in=REVIEW_STATES[state][1])
    return sessions.order_by(F("score").desc(nulls_last=True), "student__last_name", "student__username", "pk")


def review_dashboard(
    course: Course, *, exam_id: int | None = None, flag_kind: str | None = None, state: str | None = None, page: Any = 1
) -> Dashboard:
    """One page of the course's sessions, highest score first, with flag counts by type. Four
    queries: the count, the page, its flag counts, and the course's exams for the filter."""
    paginator = Paginator(_sessions(course, exam_id=exam_id, flag_kind=flag_kind, state=state), PAGE_SIZE)
    page_obj = paginator.get_page(page)
    sessions = list(page_obj.object_list)
    counts: dict[Any, dict[str, int]] = {}
    for row in (
        Flag.objects.filter(session__in=[s.pk for s in sessions]).values("session_id", "kind").annotate(n=Count("id"))
    ):
        counts.setdefault(row["session_id"], {})[row["kind"]] = row["n"]
    rows = []
    for session in sessions:
        found = counts.get(session.pk, {})
        rows.append(
            DashboardRow(
                session,
                [
                    FlagCount(
                        kind.value, RULES[kind].label, RULES[kind].category == Category.TECHNICAL, found[kind.value]
                    )
                    for kind in Kind
                    if kind.value in found
                ],
            )
        )
    return Dashboard(page_obj, rows, list(course.exams.order_by("opens_at", "title")))


@dataclass(frozen=True)
class Part:
    recording: Any
    #: Seconds from the start of the attempt at which this part's media begins.
    offset: float


@dataclass(frozen=True)
class ReviewBreak:
    """A break the student took, on the attempt's clock (seconds), and how much of it the clock
    stood still for: the analysis flagged nothing in that part; any overrun was exam time."""

    start: float
    end: float
    counted: float

    @property
    def overrun(self) -> float:
        return max(self.end - self.start - self.counted, 0.0)

    @property
    def start_clock(self) -> str:
        return clock(self.start)

    @property
    def end_clock(self) -> str:
        return clock(self.end)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def length(self) -> str:
        return _duration(self.seconds)

    @property
    def overrun_length(self) -> str:
        return _duration(self.overrun)


def _duration(seconds: float) -> str:
    return f"{round(seconds)} s" if seconds < 60 else f"{round(seconds / 60)} min"


@dataclass
class SessionReview:
    session: ExamSession
    run: AnalysisRun | None
    webcam: list[Part]
    screen: list[Part]
    #: Flags, each with its decisions oldest first as ``verdicts`` (the last is the current one).
    flags: list[Any]
    signals: list[tuple[float, str]]
    recorded_seconds: float
    decisions: list[SessionDecision] = field(default_factory=list)
    appeal: Appeal | None = None
    breaks: list[ReviewBreak] = field(default_factory=list)

    @property
    def undecided(self) -> int:
        """Possible-concern flags with no verdict yet; technical flags need none."""
        return sum(1 for flag in self.flags if flag.category == Category.CONCERN and not flag.verdicts)

    @property
    def referral(self) -> SessionDecision | None:
        """The decision that sent the session to a second review, while it waits there."""
        if self.session.status != S.SECOND_REVIEW:
            return None
        return next((d for d in reversed(self.decisions) if d.outcome == Outcome.REFERRED), None)


def session_review(session: ExamSession) -> SessionReview:
    """What the session review page shows: the playable parts placed on the attempt's clock, the
    latest run, its flags and the browser signals, all in session seconds."""
    started = session.started_at or session.created_at
    ended = session.ended_at or started
    parts: dict[str, list[Part]] = {"webcam": [], "screen": []}
    for recording in (
        Recording.objects.filter(session=session, status=RecordingStatus.FINALISED)
        .exclude(playback_name="")
        .order_by("kind", "part")
    ):
        span = recording_span(recording)
        if span is not None:  # a playback copy is made only from chunks, so there always is one
            parts[recording.kind].append(Part(recording, round((span[0] - started).total_seconds(), 2)))
    run = AnalysisRun.objects.filter(session=session).order_by("-started_at", "-id").first()
    flags = list(
        Flag.objects.filter(session=session)
        .select_related("evidence_recording")
        .prefetch_related(Prefetch("decisions", to_attr="verdicts"))
        .defer("evidence_thumbnail")
    )
    signals = [
        (round((signal.client_time - started).total_seconds(), 1), signal.get_kind_display())
        for signal in session.browser_signals.all()
    ]
    return SessionReview(
        session,
        run,
        parts["webcam"],
        parts["screen"],
        flags,
        signals,
        max((ended - started).total_seconds(), 1.0),
        decisions=list(SessionDecision.objects.filter(session=session)),
        appeal=Appeal.objects.filter(session=session).first(),
        breaks=[
            ReviewBreak(
                round((b.started_at - started).total_seconds(), 1),
                round(((b.ended_at or ended) - started).total_seconds(), 1),
                round(b.counted_seconds(b.ended_at or ended), 1),
            )
            for b in session.breaks.all()
        ],
    )


#: Sessions read per batch by the export: a few queries per batch, never one per session.
EXPORT_BATCH = 500


def _outcome(status: str) -> str:
    """A decided session's outcome, or the review state it waits in."""
    if status in COMPLETED:
        return str(S(status).label)
    return next(name for name, statuses in REVIEW_STATES.values() if status in statuses)


def export_questions(course: Course, *, exam_id: int | None = None) -> list[Question]:
    """The questions of the exams the export lists, one column each, exam by exam."""
    questions = Question.objects.filter(exam__course=course).select_related("exam")
    if exam_id is not None:
        questions = questions.filter(exam_id=exam_id)
    return list(questions.order_by("exam__title", "exam_id", "position", "id"))


def _question_column(question: Question, *, with_exam: bool) -> str:
    name = f"Q{question.position} marks (of {decimal_text(question.points)})"
    return f"{question.exam.title}: {name}" if with_exam else name


def export_header(questions: list[Question]) -> list[str]:
    with_exam = len({question.exam_id for question in questions}) > 1
    return [
        "Exam",
        "Student",
        "Username",
        "Status",
        "Score",
        "Possible-concern flags",
        "Technical flags",
        *(f"{RULES[kind].label} flags" for kind in Kind),
        "Flags confirmed",
        "Flags dismissed",
        "Flags without a verdict",
        "Outcome",
        "Decided by",
        "Last decision at",
        "Appealed",
        "Marks",
        "Maximum marks",
        "Marking complete",
        *(_question_column(question, with_exam=with_exam) for question in questions),
    ]


def _batches(sessions: QuerySet[ExamSession]) -> Iterator[list[ExamSession]]:
    batch: list[ExamSession] = []
    for session in sessions.iterator(chunk_size=EXPORT_BATCH):
        batch.append(session)
        if len(batch) == EXPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def review_export_students(course: Course, *, exam_id: int | None = None) -> list[int]:
    """The students whose sessions the export lists: the people its audit entry names."""
    sessions = ExamSession.objects.filter(exam__course=course)
    if exam_id is not None:
        sessions = sessions.filter(exam_id=exam_id)
    return sorted(set(sessions.values_list("student_id", flat=True)))


def review_export(course: Course, *, exam_id: int | None = None) -> Iterator[list[str]]:
    """The course's (or one exam's) sessions as rows for a CSV: scores, flags, verdicts, outcomes and
    marks (in all and per question), highest score first. Reads in batches of EXPORT_BATCH sessions, five
    queries each."""
    questions = export_questions(course, exam_id=exam_id)
    maximum: dict[int, Decimal] = {}
    for question in questions:
        maximum[question.exam_id] = maximum.get(question.exam_id, Decimal("0")) + question.points
    yield export_header(questions)
    for batch in _batches(_sessions(course, exam_id=exam_id, flag_kind=None, state=None)):
        ids = [session.pk for session in batch]
        marks = marks_of_sessions(batch, questions)
        kinds: dict[Any, dict[str, int]] = {}
        for row in Flag.objects.filter(session__in=ids).values("session_id", "kind").annotate(n=Count("id")):
            kinds.setdefault(row["session_id"], {})[row["kind"]] = row["n"]
        # The current verdict of each flag is its latest decision.
        verdicts: dict[int, tuple[Any, str, str]] = {}
        for flag_id, session_id, category, verdict in FlagDecision.objects.filter(flag__session__in=ids).values_list(
            "flag_id", "flag__session_id", "flag__category", "verdict"
        ):
            verdicts[flag_id] = (session_id, category, verdict)
        tallies: dict[Any, Counter[str]] = {}
        for session_id, category, verdict in verdicts.values():
            tally = tallies.setdefault(session_id, Counter())
            tally[verdict] += 1
            tally["concern decided"] += category == Category.CONCERN
        decisions: dict[Any, list[SessionDecision]] = {}
        for decision in SessionDecision.objects.filter(session__in=ids):
            decisions.setdefault(decision.session_id, []).append(decision)
        appealed = set(Appeal.objects.filter(session__in=ids).values_list("session_id", flat=True))
        for session in batch:
            found = kinds.get(session.pk, {})
            technical = sum(n for kind, n in found.items() if RULES[Kind(kind)].category == Category.TECHNICAL)
            concerns = sum(found.values()) - technical
            tally = tallies.get(session.pk, Counter())
            decided = decisions.get(session.pk, [])
            score = getattr(session, "score", None)
            yield [
                session.exam.title,
                session.student.get_full_name(),
                session.student.get_username(),
                session.get_status_display(),
                "" if score is None else f"{score:.1f}",
                str(concerns),
                str(technical),
                *(str(found.get(kind.value, 0)) for kind in Kind),
                str(tally[Verdict.CONFIRMED]),
                str(tally[Verdict.DISMISSED]),
                str(concerns - tally["concern decided"]),
                _outcome(session.status),
                "; ".join(dict.fromkeys(d.reviewer_name for d in decided)),
                decided[-1].decided_at.isoformat(timespec="seconds") if decided else "",
                "Yes" if session.pk in appealed else "No",
                decimal_text(marks[session.pk].total),
                decimal_text(maximum.get(session.exam_id, Decimal("0"))),
                "Yes" if marks[session.pk].complete else "No",
                *(_points_cell(marks[session.pk].points.get(question.pk)) for question in questions),
            ]


def _points_cell(points: Decimal | None) -> str:
    """A question's marks, or nothing when it is not marked (yet, or not in this session's exam)."""
    return "" if points is None else decimal_text(points)


@dataclass(frozen=True)
class ManualCheck:
    """A manual identity check with the session it was requested for."""

    check: IdentityCheck
    session: ExamSession
    #: The student's photo ID is still stored for a person to look at.
    has_photo: bool = False


def _reference_id(check: IdentityCheck) -> uuid.UUID | None:
    """The session id a check names in its reference, if it names one."""
    try:
        return uuid.UUID(check.reference)
    except ValueError:
        return None


def manual_checks_for(user: Any, *, pending: bool, course_id: int | None = None) -> list[ManualCheck]:
    """Manual identity checks of sessions the user may check identity for (of one course, given
    ``course_id``): the waiting ones oldest first (with whether a photo ID is there to look at), or the
    20 decided most recently."""
    checks = IdentityCheck.objects.filter(kind=IdentityCheckKind.MANUAL_REQUEST).select_related("user", "decided_by")
    if pending:
        checks = checks.filter(decision=ManualDecision.PENDING).order_by("at", "id")
    else:
        checks = checks.exclude(decision=ManualDecision.PENDING).order_by("-decided_at", "-id")
    candidates = [(check, _reference_id(check)) for check in checks[:500]]
    sessions = ExamSession.objects.select_related("exam__course", "student").in_bulk(
        [session_id for _, session_id in candidates if session_id is not None]
    )
    photos = set(
        IdentityProfile.objects.filter(user_id__in=[check.user_id for check, _ in candidates])
        .exclude(id_photo_name="")
        .values_list("user_id", flat=True)
    )
    found: list[ManualCheck] = []
    for check, session_id in candidates:
        session = sessions.get(session_id) if session_id is not None else None
        if session is None or (course_id is not None and session.exam.course_id != course_id):
            continue
        if session.student_id == check.user_id and can(user, Action.CHECK_IDENTITY, session):
            found.append(ManualCheck(check, session, has_photo=check.user_id in photos))
        if not pending and len(found) >= 20:
            break
    return found


def manual_check_session(check: IdentityCheck) -> ExamSession | None:
    """The session a manual check was requested for, when it is that student's."""
    session_id = _reference_id(check)
    if session_id is None:
        return None
    return (
        ExamSession.objects.select_related("exam__course", "student")
        .filter(pk=session_id, student_id=check.user_id)
        .first()
    )


def appeal_open_until(session: ExamSession, *, appealed: bool | None = None) -> datetime | None:
    """Until when the student may still appeal the session's outcome: a confirmed concern that was never
    appealed, for the institution's appeal window from when it was confirmed. None when no appeal can
    be made (any other status, or the one appeal was made)."""
    if session.status != S.CONCERN_CONFIRMED:
        return None
    if appealed is None:
        appealed = Appeal.objects.filter(session=session).exists()
    if appealed:
        return None
    return session.status_changed_at + timedelta(days=session.exam.course.institution.appeal_window_days)
