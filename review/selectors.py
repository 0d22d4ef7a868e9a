"""Reads for reviewers: the course dashboard, in a constant number of queries whatever its size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery

from analysis.models import AnalysisRun, Flag, RunStatus
from analysis.rules import RULES, Category, Kind
from exams.models import Course, Exam, ExamSession
from exams.models import SessionStatus as S
from recordings.models import Recording, RecordingStatus
from recordings.selectors import recording_span

PAGE_SIZE = 50

#: Review states a reviewer filters by, as groups of session statuses.
REVIEW_STATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "to_review": ("Awaiting review", (S.READY_FOR_REVIEW, S.ANALYSIS_FAILED)),
    "second_review": ("Awaiting second review", (S.SECOND_REVIEW,)),
    "appealed": ("Under appeal", (S.APPEALED,)),
    "decided": ("Decided", (S.CLEARED, S.CONCERN_CONFIRMED)),
    "not_ready": (
        "Not ready for review",
        (S.CREATED, S.CONSENTED, S.DECLINED, S.READY, S.STARTED, S.SUBMITTED, S.TIMED_OUT, S.ABANDONED, S.ANALYSING),
    ),
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


@dataclass
class SessionReview:
    session: ExamSession
    run: AnalysisRun | None
    webcam: list[Part]
    screen: list[Part]
    flags: list[Flag]
    signals: list[tuple[float, str]]
    recorded_seconds: float


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
    flags = list(Flag.objects.filter(session=session).select_related("evidence_recording").defer("evidence_thumbnail"))
    signals = [
        (round((signal.client_time - started).total_seconds(), 1), signal.get_kind_display())
        for signal in session.browser_signals.all()
    ]
    return SessionReview(
        session, run, parts["webcam"], parts["screen"], flags, signals, max((ended - started).total_seconds(), 1.0)
    )
