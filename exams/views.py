"""Pages for courses, exams and sessions. Thin: authorise through exams.permissions, read through
exams.selectors, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from exams import selectors
from exams.models import Accommodation, AlternativeRequest, Course, Exam, ExamSession
from exams.permissions import Action, can, is_admin, require
from exams.services import (
    MAX_ALTERNATIVE_CHARS,
    MAX_CONTACT_CHARS,
    MAX_RESPONSE_CHARS,
    AlternativeAnswerRefused,
    PublishRefused,
    alternative_answer,
    exam_alternative_set,
    exam_unpublish,
)


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
            # Students see published exams only; the course's staff see drafts too, marked as such.
            "exams": selectors.exams_of_course(course, drafts=staff_view),
            "staff_view": staff_view,
            "may_set_up": can(request.user, Action.CREATE_EXAM, course),
            "members": course.memberships.select_related("user") if staff_view else None,
            "may_manage_roster": can(request.user, Action.MANAGE_ROSTER, course),
        },
    )


def _exam_page(
    request: HttpRequest,
    exam: Exam,
    *,
    answer_error: dict[str, Any] | None = None,
    publish_error: dict[str, str] | None = None,
) -> HttpResponse:
    staff_view = can(request.user, Action.VIEW_EXAM_SESSIONS, exam)
    context: dict[str, object] = {
        "exam": exam,
        "staff_view": staff_view,
        "questions": exam.questions.count(),
        "policy": selectors.consent_policy_for(exam),
    }
    if staff_view:
        context["sessions"] = selectors.sessions_of_exam(exam)
        context["accommodations"] = (
            exam.accommodations.select_related("student") if can(request.user, Action.MANAGE_EXAM, exam) else None
        )
        context["consent_counts"] = selectors.consent_counts(exam)
        if can(request.user, Action.MANAGE_EXAM, exam):
            context["may_publish"] = True
            context["publish_error"] = publish_error
            context["max_alternative_chars"] = MAX_ALTERNATIVE_CHARS
            context["max_contact_chars"] = MAX_CONTACT_CHARS
        if can(request.user, Action.ANSWER_ALTERNATIVE, exam):
            context["alternatives"] = selectors.alternative_requests_of_exam(exam)
            context["answer_error"] = answer_error
            context["max_response_chars"] = MAX_RESPONSE_CHARS
    else:
        accommodation = Accommodation.objects.filter(exam=exam, student_id=request.user.pk).first()
        context["own_session"] = exam.sessions.filter(student_id=request.user.pk).first()
        context["accommodation"] = accommodation
        context["allowed_minutes"] = (
            accommodation.allowed_minutes(exam.duration_minutes) if accommodation else exam.duration_minutes
        )
    return render(request, "exams/exam_detail.html", context, status=400 if publish_error or answer_error else 200)


@login_required
def exam_detail(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = get_object_or_404(Exam.objects.select_related("course"), pk=exam_id)
    require(request.user, Action.VIEW_EXAM, exam)
    return _exam_page(request, exam)


@login_required
@require_POST
def exam_publishing(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The instructor sets the alternative arrangement, and publishes the exam or takes it back to draft."""
    exam = get_object_or_404(Exam.objects.select_related("course"), pk=exam_id)
    require(request.user, Action.MANAGE_EXAM, exam)
    action = request.POST.get("action", "save")
    arrangement, contact = request.POST.get("alternative_arrangement", ""), request.POST.get("alternative_contact", "")
    try:
        if action == "unpublish":
            exam_unpublish(exam_id=exam.pk, actor=request.user, request=request)
            messages.success(request, "The exam is a draft again: students no longer see it.")
        else:
            exam_alternative_set(
                exam_id=exam.pk,
                arrangement=arrangement,
                contact=contact,
                actor=request.user,
                publish=action == "publish",
                request=request,
            )
            if action == "publish":
                messages.success(request, "The exam is published: its students can see it and open it.")
            else:
                messages.success(request, "The alternative arrangement is saved.")
    except PublishRefused as exc:
        exam.refresh_from_db()
        error = {"message": str(exc), "arrangement": arrangement, "contact": contact}
        return _exam_page(request, exam, publish_error=error)
    return redirect(f"{reverse('exam_detail', args=[exam.pk])}#publishing")


@login_required
@require_POST
def alternative_answer_view(request: HttpRequest, request_id: int) -> HttpResponse:
    """An instructor answers a student's request for an alternative arrangement from the exam page."""
    alternative = get_object_or_404(
        AlternativeRequest.objects.select_related("session__exam__course", "session__student"), pk=request_id
    )
    exam = alternative.session.exam
    require(request.user, Action.ANSWER_ALTERNATIVE, exam)
    response = request.POST.get("response", "")
    try:
        alternative_answer(request_id=alternative.pk, response=response, actor=request.user, request=request)
    except AlternativeAnswerRefused as exc:
        return _exam_page(
            request, exam, answer_error={"request": alternative.pk, "message": str(exc), "response": response}
        )
    student = alternative.session.student
    messages.success(
        request,
        f"Your answer to {student.get_full_name() or student.get_username()} is saved; "
        "they see it on the exam's page before they start.",
    )
    return redirect(f"{reverse('exam_detail', args=[exam.pk])}#alternative-{alternative.pk}")


@login_required
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    try:
        session = selectors.session_with_history(session_id)
    except ExamSession.DoesNotExist as exc:
        raise Http404("No such exam session.") from exc
    require(request.user, Action.VIEW_SESSION, session)
    return render(request, "exams/session_detail.html", {"session": session})
