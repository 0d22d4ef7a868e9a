"""Pages for courses, exams and sessions. Thin: authorise through exams.permissions, read through
exams.selectors, render."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from exams import selectors
from exams.models import Accommodation, Course, Exam, ExamSession
from exams.permissions import Action, can, is_admin, require


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "exams/home.html",
        {
            "student_exams": selectors.exams_for_student(user),
            "courses": selectors.courses_taught(user),
            "is_admin": is_admin(user),
        },
    )


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    course = get_object_or_404(Course.objects.select_related("institution"), pk=course_id)
    require(request.user, Action.VIEW_COURSE, course)
    staff_view = can(request.user, Action.VIEW_COURSE_ROSTER, course)
    return render(
        request,
        "exams/course_detail.html",
        {
            "course": course,
            "exams": selectors.exams_of_course(course),
            "staff_view": staff_view,
            "members": course.memberships.select_related("user") if staff_view else None,
        },
    )


@login_required
def exam_detail(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = get_object_or_404(Exam.objects.select_related("course", "consent_policy"), pk=exam_id)
    require(request.user, Action.VIEW_EXAM, exam)
    staff_view = can(request.user, Action.VIEW_EXAM_SESSIONS, exam)
    context: dict[str, object] = {"exam": exam, "staff_view": staff_view, "questions": exam.questions.count()}
    if staff_view:
        context["sessions"] = selectors.sessions_of_exam(exam)
        context["accommodations"] = (
            exam.accommodations.select_related("student") if can(request.user, Action.MANAGE_EXAM, exam) else None
        )
    else:
        accommodation = Accommodation.objects.filter(exam=exam, student_id=request.user.pk).first()
        context["own_session"] = exam.sessions.filter(student_id=request.user.pk).first()
        context["accommodation"] = accommodation
        context["allowed_minutes"] = (
            accommodation.allowed_minutes(exam.duration_minutes) if accommodation else exam.duration_minutes
        )
    return render(request, "exams/exam_detail.html", context)


@login_required
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    try:
        session = selectors.session_with_history(session_id)
    except ExamSession.DoesNotExist as exc:
        raise Http404("No such exam session.") from exc
    require(request.user, Action.VIEW_SESSION, session)
    return render(request, "exams/session_detail.html", {"session": session})
