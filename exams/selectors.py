"""Reads of exams, scoped by who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from exams.models import Accommodation, Course, Exam, ExamSession, Role
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


def exams_of_course(course: Course) -> QuerySet[Exam]:
    return course.exams.annotate(
        session_count=Count("sessions"),
        to_review=Count("sessions", filter=Q(sessions__status__in=["ready_for_review", "second_review", "appealed"])),
    )


def exams_for_student(user: Any) -> list[StudentExam]:
    """Every exam of the courses the user studies, with their own session and accommodation."""
    exams = (
        Exam.objects.filter(course__memberships__user=user, course__memberships__role=Role.STUDENT)
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
