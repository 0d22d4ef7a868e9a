"""Reads of exams, scoped by who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from exams.lifecycle import AWAITING_PERSON, BEFORE_START
from exams.models import (
    Accommodation,
    AlternativeRequest,
    ConsentDecision,
    ConsentPolicy,
    ConsentRecord,
    Course,
    CourseMembership,
    Exam,
    ExamBreak,
    ExamSession,
    RequestStatus,
    Role,
    SessionStatus,
)
from exams.notice import privacy_notice_current
from exams.permissions import is_admin


@dataclass(frozen=True)
class StudentExam:
    exam: Exam
    session: ExamSession | None
    accommodation: Accommodation | None


def courses_taught(user: Any) -> QuerySet[Course]:
    """Courses the user instructs or reviews (all courses for an admin), with exam counts."""
    courses = Course.objects.select_related("institution").annotate(exam_count=Count("exams", distinct=True))
    if is_admin(user):
        return courses
    return courses.filter(memberships__user=user, memberships__role__in=[Role.INSTRUCTOR, Role.REVIEWER]).distinct()


def exams_of_course(course: Course, *, drafts: bool = True) -> QuerySet[Exam]:
    exams = course.exams.all() if drafts else course.exams.filter(published_at__isnull=False)
    return exams.annotate(
        session_count=Count("sessions"),
        to_review=Count("sessions", filter=Q(sessions__status__in=AWAITING_PERSON)),
    )


def exams_for_student(user: Any) -> list[StudentExam]:
    """Every exam of the courses the user studies, with their own session and accommodation."""
    exams = (
        Exam.objects.filter(
            course__memberships__user=user, course__memberships__role=Role.STUDENT, published_at__isnull=False
        )
        .select_related("course")
        .prefetch_related(
            Prefetch("sessions", queryset=ExamSession.objects.filter(student=user), to_attr="own_sessions"),
            Prefetch(
                "accommodations", queryset=Accommodation.objects.filter(student=user), to_attr="own_accommodations"
            ),
        )
        .order_by("opens_at")
    )
    return [
        StudentExam(
            exam=exam,
            session=exam.own_sessions[0] if exam.own_sessions else None,
            accommodation=exam.own_accommodations[0] if exam.own_accommodations else None,
        )
        for exam in exams
    ]


def sessions_of_exam(exam: Exam) -> QuerySet[ExamSession]:
    return exam.sessions.select_related("student").order_by("student__last_name", "student__username")


def session_with_history(session_id: Any) -> ExamSession:
    return (
        ExamSession.objects.select_related("exam", "exam__course", "student")
        .prefetch_related("transitions__actor")
        .get(pk=session_id)
    )


def consent_policy_for(exam: Exam, *, on: date | None = None) -> ConsentPolicy | None:
    """The consent policy version that students of ``exam`` are asked about on ``on`` (by default today
    in the configured TIME_ZONE, the hosting institution's), or None when no version is in effect yet.

    The most specific scope with a version in effect wins (the exam, else its course, else the
    institution), and within that scope the highest version in effect. Never another institution's.
    """
    on = on or timezone.localdate()
    specificity = Case(
        When(exam__isnull=False, then=Value(2)),
        When(course__isnull=False, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        ConsentPolicy.objects.filter(institution_id=exam.course.institution_id, effective_from__lte=on)
        .filter(Q(exam_id=exam.pk) | Q(course_id=exam.course_id) | Q(course__isnull=True, exam__isnull=True))
        .annotate(specificity=specificity)
        .select_related("course", "exam__course")
        .order_by("-specificity", "-version")
        .first()
    )


def consent_given(session: ExamSession) -> ConsentRecord | None:
    """The session's latest consent (not decline), or None."""
    return (
        ConsentRecord.objects.filter(session=session, decision=ConsentDecision.CONSENTED)
        .select_related("policy")
        .order_by("-at", "-pk")
        .first()
    )


def consent_outdated_reason(session: ExamSession, policy: ConsentPolicy | None) -> str:
    """Why the student must read and consent again before they start, in one sentence, or "" when they
    need not: they consented but not to ``policy`` (the version in effect), or not beside the privacy
    notice version in force (a consent from before privacy notices too: they never read one), and
    have not started. Attempts under way are left be."""
    if session.status not in BEFORE_START:
        return ""
    given = consent_given(session)
    if policy is None or given is None:
        return "You have not agreed to the consent policy in effect."
    if given.policy_id != policy.pk:
        return f"The consent policy has changed to version {policy.version} since you agreed."
    notice = privacy_notice_current(session.exam.course.institution)
    if given.notice_id != notice.pk:
        return f"The privacy notice has changed to version {notice.version} since you agreed."
    return ""


def exams_with_consent_counts(exams: QuerySet[Exam]) -> QuerySet[Exam]:
    """``exams`` annotated with ``consented_count`` and ``declined_count``: sessions whose student
    agreed (and did not decline later) and sessions whose student declined. A session counts once,
    however many versions it answered. One query for any number of exams."""
    consented = Q(sessions__consents__decision=ConsentDecision.CONSENTED) & ~Q(sessions__status=SessionStatus.DECLINED)
    return exams.annotate(
        consented_count=Count("sessions", filter=consented, distinct=True),
        declined_count=Count(
            "sessions", filter=Q(sessions__consents__decision=ConsentDecision.DECLINED), distinct=True
        ),
    )


@dataclass(frozen=True)
class ConsentCounts:
    consented: int
    declined: int


def consent_counts(exam: Exam) -> ConsentCounts:
    """How many of the exam's sessions consented and declined (as ``exams_with_consent_counts``)."""
    row: Any = exams_with_consent_counts(Exam.objects.filter(pk=exam.pk)).get()
    return ConsentCounts(consented=row.consented_count, declined=row.declined_count)


def alternative_requests_of_exam(exam: Exam) -> QuerySet[AlternativeRequest]:
    """The exam's requests for an alternative arrangement, open ones first, oldest first."""
    open_first = Case(When(status=RequestStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        AlternativeRequest.objects.filter(session__exam=exam)
        .select_related("session__student", "answered_by")
        .order_by(open_first, "created_at", "pk")
    )


@dataclass(frozen=True)
class BreakAllowance:
    """What a student's accommodation allows them in breaks, and what they have taken."""

    breaks: int
    seconds: int
    taken: int
    used_seconds: float
    current: ExamBreak | None

    @property
    def seconds_left(self) -> float:
        return max(self.seconds - self.used_seconds, 0.0)

    @property
    def breaks_left(self) -> int:
        return max(self.breaks - self.taken, 0)


def session_accommodation(session: ExamSession) -> Accommodation | None:
    """The student's accommodation in the session's exam, if they have one."""
    return Accommodation.objects.filter(exam_id=session.exam_id, student_id=session.student_id).first()


def break_allowance(session: ExamSession) -> BreakAllowance:
    accommodation = session_accommodation(session)
    taken = list(session.breaks.all())
    now = timezone.now()
    return BreakAllowance(
        breaks=accommodation.breaks_allowed if accommodation and accommodation.break_minutes else 0,
        seconds=accommodation.break_minutes * 60 if accommodation and accommodation.breaks_allowed else 0,
        taken=len(taken),
        used_seconds=sum(b.counted_seconds(now) for b in taken),
        current=next((b for b in taken if b.ended_at is None), None),
    )


def break_state(session: ExamSession) -> dict[str, Any]:
    """The student's break allowance as the exam page shows it; ``until`` is when the break time of a
    break under way runs out."""
    allowance = break_allowance(session)
    current = allowance.current
    until = current.started_at + timedelta(seconds=current.allowed_seconds) if current else None
    return {
        "allowed": allowance.breaks,
        "left": allowance.breaks_left,
        "seconds_left": round(allowance.seconds_left),
        "on_break": current is not None,
        "until": until.isoformat(timespec="milliseconds") if until else None,
    }


@dataclass(frozen=True)
class Roster:
    """A course's class list, by role; each student with how many sessions they have in the course."""

    instructors: list[CourseMembership]
    reviewers: list[CourseMembership]
    students: list[CourseMembership]


def roster_of_course(course: Course) -> Roster:
    memberships = (
        CourseMembership.objects.filter(course=course)
        .select_related("user", "appointed_by")
        .annotate(
            session_count=Count(
                "user__exam_sessions", filter=Q(user__exam_sessions__exam__course=course), distinct=True
            )
        )
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    by_role: dict[str, list[CourseMembership]] = {role: [] for role in Role.values}
    for membership in memberships:
        by_role[membership.role].append(membership)
    return Roster(
        instructors=by_role[Role.INSTRUCTOR], reviewers=by_role[Role.REVIEWER], students=by_role[Role.STUDENT]
    )


def accommodations_of_exam(exam: Exam) -> dict[int, Accommodation]:
    """The exam's accommodations by student id, for its instructors and admins (staff reason included)."""
    return {a.student_id: a for a in Accommodation.objects.filter(exam=exam)}


def course_student(exam: Exam, student_id: int) -> Any | None:
    """The account of ``student_id`` if it is a student of the exam's course (None otherwise)."""
    membership = (
        CourseMembership.objects.select_related("user")
        .filter(course_id=exam.course_id, user_id=student_id, role=Role.STUDENT)
        .first()
    )
    return membership.user if membership else None
