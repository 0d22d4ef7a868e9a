"""The instructor's workspace: pages that set up an exam, its questions and its consent policy, and
publish it. Thin: authorise through exams.permissions, parse with exams.authoring_forms, write through
exams.authoring (and exams.services for publishing), render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from exams import selectors
from exams.authoring import (
    AuthoringRefused,
    exam_begun,
    exam_consent_policy_add,
    exam_create,
    exam_duplicate,
    exam_update,
    question_delete,
    question_move,
    question_save,
)
from exams.authoring_forms import ConsentPolicyForm, ExamForm, QuestionForm, choice_drafts, choice_rows, choices_of
from exams.models import Check, Course, Exam, Question
from exams.permissions import Action, require
from exams.services import PublishRefused, exam_publish, exam_publish_gaps, exam_unpublish


def _exam(request: HttpRequest, exam_id: int) -> Exam:
    exam = get_object_or_404(Exam.objects.select_related("course__institution"), pk=exam_id)
    require(request.user, Action.MANAGE_EXAM, exam)
    return exam


def _setup_url(exam: Exam, anchor: str = "") -> str:
    return reverse("exam_setup", args=[exam.pk]) + (f"#{anchor}" if anchor else "")


@login_required
@require_http_methods(["GET", "POST"])
def exam_new(request: HttpRequest, course_id: int) -> HttpResponse:
    course = get_object_or_404(Course, pk=course_id)
    require(request.user, Action.CREATE_EXAM, course)
    form = ExamForm(request.POST) if request.method == "POST" else ExamForm.blank()
    if request.method == "POST" and form.is_valid():
        try:
            exam = exam_create(course_id=course.pk, settings=form.settings(), actor=request.user, request=request)
        except AuthoringRefused as exc:
            form.refused(exc.errors)
        else:
            messages.success(request, "The exam is saved as a draft. Add its questions, then publish it.")
            return redirect(_setup_url(exam))
    return render(
        request,
        "exams/authoring/exam_form.html",
        {"course": course, "form": form, "exam": None},
        status=400 if form.errors else 200,
    )


def _setup_page(
    request: HttpRequest,
    exam: Exam,
    *,
    publish_error: str = "",
    policy_form: ConsentPolicyForm | None = None,
    question_error: str = "",
) -> HttpResponse:
    opening_day = max(timezone.localdate(), timezone.localdate(exam.opens_at))
    policy = selectors.consent_policy_for(exam, on=opening_day)
    return render(
        request,
        "exams/authoring/setup.html",
        {
            "exam": exam,
            "questions": exam.questions.prefetch_related("choices"),
            "begun": exam_begun(exam),
            "checks_off": [(Check(check).label, why) for check, why in exam.checks_switched_off().items()],
            "policy": policy,
            "missing": [] if exam.published else exam_publish_gaps(exam),
            "publish_error": publish_error,
            "question_error": question_error,
            "policy_form": policy_form or ConsentPolicyForm(initial={"effective_from": timezone.localdate()}),
        },
        status=400 if publish_error or question_error or (policy_form and policy_form.errors) else 200,
    )


@login_required
def exam_setup(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The exam as its instructor sets it up: its settings, questions, consent policy and publishing."""
    return _setup_page(request, _exam(request, exam_id))


@login_required
@require_http_methods(["GET", "POST"])
def exam_edit(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    form = ExamForm(request.POST) if request.method == "POST" else ExamForm.of(exam)
    if request.method == "POST" and form.is_valid():
        try:
            exam_update(exam_id=exam.pk, settings=form.settings(), actor=request.user, request=request)
        except AuthoringRefused as exc:
            form.refused(exc.errors)
        else:
            messages.success(request, "The exam's settings are saved.")
            return redirect(_setup_url(exam))
    return render(
        request,
        "exams/authoring/exam_form.html",
        {"course": exam.course, "form": form, "exam": exam, "begun": exam_begun(exam)},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def exam_duplicate_view(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    copy = exam_duplicate(exam_id=exam.pk, actor=request.user, request=request)
    messages.success(
        request,
        f"This is a draft copy of {exam.title}, with its settings and questions. Set its window, then publish it.",
    )
    return redirect(_setup_url(copy))


@login_required
@require_POST
def exam_publish_view(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    try:
        if request.POST.get("action") == "unpublish":
            exam_unpublish(exam_id=exam.pk, actor=request.user, request=request)
            messages.success(request, "The exam is a draft again: students no longer see it.")
        else:
            exam_publish(exam_id=exam.pk, actor=request.user, request=request)
            messages.success(request, "The exam is published: its students can see it and open it.")
    except PublishRefused as exc:
        exam.refresh_from_db()
        return _setup_page(request, exam, publish_error=str(exc))
    return redirect(_setup_url(exam, "publishing"))


@login_required
@require_http_methods(["GET", "POST"])
def question_edit(request: HttpRequest, exam_id: int, question_id: int | None = None) -> HttpResponse:
    """Add a question (without ``question_id``) or change one, with its options on the same page."""
    exam = _exam(request, exam_id)
    question = get_object_or_404(Question, pk=question_id, exam=exam) if question_id is not None else None
    choices_error, more = "", "more" in request.POST
    if request.method == "POST":
        form = QuestionForm(request.POST)
        choices = choice_rows(data=request.POST)
        if more and choices.is_valid():
            # More rows asked for: the same page with what was typed and two more empty rows, nothing saved.
            form = QuestionForm(initial=request.POST.dict())
            choices = choice_rows(initial=[row.cleaned_data or {"text": ""} for row in choices.forms])
        elif form.is_valid() and choices.is_valid():
            try:
                saved = question_save(
                    exam_id=exam.pk,
                    question_id=question.pk if question else None,
                    draft=form.draft(choice_drafts(choices)),
                    actor=request.user,
                    request=request,
                )
            except AuthoringRefused as exc:
                form.refused(exc.errors)
                choices_error = exc.errors.get("choices", "")
            else:
                messages.success(request, f"Question {saved.position} is saved.")
                return redirect(_setup_url(exam, f"question-{saved.pk}"))
    else:
        form = QuestionForm.of(question) if question else QuestionForm()
        choices = choice_rows(initial=choices_of(question), extra=2) if question else choice_rows(extra=4)
    invalid = request.method == "POST" and not more and (form.errors or choices_error or not choices.is_valid())
    return render(
        request,
        "exams/authoring/question_form.html",
        {
            "exam": exam,
            "question": question,
            "form": form,
            "choices": choices,
            "choices_error": choices_error,
            "begun": exam_begun(exam),
        },
        status=400 if invalid else 200,
    )


@login_required
@require_POST
def question_delete_view(request: HttpRequest, exam_id: int, question_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    question = get_object_or_404(Question, pk=question_id, exam=exam)
    try:
        question_delete(exam_id=exam.pk, question_id=question.pk, actor=request.user, request=request)
    except AuthoringRefused as exc:
        return _setup_page(request, exam, question_error=str(exc))
    messages.success(request, f"Question {question.position} is removed.")
    return redirect(_setup_url(exam, "questions"))


@login_required
@require_POST
def question_move_view(request: HttpRequest, exam_id: int, question_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    question = get_object_or_404(Question, pk=question_id, exam=exam)
    try:
        question_move(
            exam_id=exam.pk,
            question_id=question.pk,
            up=request.POST.get("direction") == "up",
            actor=request.user,
            request=request,
        )
    except AuthoringRefused as exc:
        return _setup_page(request, exam, question_error=str(exc))
    return redirect(_setup_url(exam, f"question-{question.pk}"))


@login_required
@require_POST
def consent_policy_add_view(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    form = ConsentPolicyForm(request.POST)
    if form.is_valid():
        data: dict[str, Any] = form.cleaned_data
        try:
            policy = exam_consent_policy_add(
                exam_id=exam.pk,
                name=data["name"],
                text=data["text"],
                effective_from=data["effective_from"],
                actor=request.user,
                request=request,
            )
        except AuthoringRefused as exc:
            for name, message in exc.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, f"Version {policy.version} of the exam's consent policy is saved.")
            return redirect(_setup_url(exam, "consent-policy"))
    return _setup_page(request, exam, policy_form=form)
