"""The student's pages before the exam: lobby, consent, and the decline path. Thin: authorise
through exams.permissions, call one service, render or redirect."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from exams.delivery import assessment_for
from exams.lifecycle import BEFORE_START
from exams.models import AlternativeRequest, Exam, ExamSession, SessionStatus
from exams.notice import notice_for_exam
from exams.permissions import Action, require
from exams.selectors import break_state, consent_given, consent_outdated_reason, consent_policy_for
from exams.services import (
    NO_POLICY_IN_EFFECT,
    ExamUnavailable,
    TransitionError,
    session_allowed_minutes,
    session_consent,
    session_decline,
    session_identity_required,
    session_open,
)


def _notice_field() -> forms.RegexField:
    # The SHA-256 of the privacy notice text the page showed; the service refuses any other.
    return forms.RegexField(
        regex=r"^[0-9a-f]{64}$",
        widget=forms.HiddenInput,
        error_messages={
            "required": "The page was sent without the privacy notice it showed. Reload the page and answer again.",
            "invalid": "The page was sent without the privacy notice it showed. Reload the page and answer again.",
        },
    )


class ConsentForm(forms.Form):
    # The exact version the student read; the page writes it from the version it shows.
    policy = forms.IntegerField(widget=forms.HiddenInput)
    notice = _notice_field()
    agree = forms.BooleanField(
        label="I have read the policy above and agree to be recorded during this exam.",
        error_messages={"required": "Tick the box to agree, or choose to decline below."},
    )


class DeclineForm(forms.Form):
    policy = forms.IntegerField(widget=forms.HiddenInput)
    notice = _notice_field()
    reason = forms.CharField(
        label="Anything your instructor should know (optional)",
        required=False,
        max_length=2000,
        error_messages={"max_length": "Your reason is too long; keep it under 2,000 characters."},
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example, why recording does not work for you, or what arrangement would.",
    )


IN_LMS = "This exam's assessment is in your LMS: start it from your course there, and the LMS brings you back here."


@login_required
def lobby(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = get_object_or_404(Exam.objects.select_related("course__institution"), pk=exam_id)
    require(request.user, Action.TAKE_EXAM, exam)
    # The latest attempt (an exam of the LMS may have several; one of Invigil has one).
    session = ExamSession.objects.filter(exam=exam, student_id=request.user.pk).order_by("-attempt_number").first()
    policy = consent_policy_for(exam)
    return render(
        request,
        "exams/lobby.html",
        {
            "exam": exam,
            "institution": exam.course.institution,
            "notice": notice_for_exam(exam),
            "session": session,
            "policy": policy,
            "no_policy": NO_POLICY_IN_EFFECT,
            "consent_again": consent_outdated_reason(session, policy) if session is not None else "",
            "alternative": (
                AlternativeRequest.objects.filter(session=session).select_related("answered_by").first()
                if session is not None and session.status == SessionStatus.DECLINED
                else None
            ),
        },
    )


@login_required
@require_POST
def open_attempt(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = get_object_or_404(Exam, pk=exam_id)
    require(request.user, Action.TAKE_EXAM, exam)
    if exam.in_lms:
        messages.error(request, IN_LMS)
        return redirect("exam_lobby", exam_id=exam.pk)
    try:
        session = session_open(exam=exam, student=request.user, request=request)
    except ExamUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("exam_lobby", exam_id=exam.pk)
    return redirect("session_consent", session_id=session.pk)


def _own_session(request: HttpRequest, session_id: uuid.UUID) -> ExamSession:
    session = get_object_or_404(ExamSession.objects.select_related("exam__course"), pk=session_id)
    require(request.user, Action.RECORD_SESSION, session)
    return session


def _consent_page(
    request: HttpRequest,
    session: ExamSession,
    *,
    form: ConsentForm | None = None,
    decline_form: DeclineForm | None = None,
) -> HttpResponse:
    """The policy in effect, in full, with the forms to agree or decline while the student is asked
    to: before they answer, and again when a newer version took effect after they agreed."""
    policy = consent_policy_for(session.exam)
    asked_again = consent_outdated_reason(session, policy) if policy is not None else ""
    return render(
        request,
        "exams/consent.html",
        {
            "session": session,
            "policy": policy,
            "notice": notice_for_exam(session.exam),
            "no_policy": NO_POLICY_IN_EFFECT,
            "asking": policy is not None and (session.status == SessionStatus.CREATED or asked_again),
            "given": consent_given(session) if asked_again else None,
            "form": form or ConsentForm(),
            "decline_form": decline_form or DeclineForm(),
        },
    )


@login_required
def consent(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    if request.method != "POST":
        return _consent_page(request, session)
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            session_consent(
                session_id=session.pk,
                policy_id=form.cleaned_data["policy"],
                notice_sha256=form.cleaned_data["notice"],
                actor=request.user,
                request=request,
            )
        except TransitionError as exc:
            form.add_error(None, str(exc))
        else:
            given = consent_given(session)
            version = given.policy_version if given else ""
            messages.success(request, f"Thank you. Your consent to version {version} is recorded.")
            return redirect("session_exam", session_id=session.pk)
    return _consent_page(request, session, form=form)


@login_required
@require_POST
def decline(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        # Shown on the consent page; what they wrote is kept.
        return _consent_page(request, session, decline_form=form)
    try:
        alternative = session_decline(
            session_id=session.pk,
            policy_id=form.cleaned_data["policy"],
            notice_sha256=form.cleaned_data["notice"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
            request=request,
        )
    except TransitionError as exc:
        # Shown on the consent page with the version now in effect; what they wrote is kept.
        form.add_error(None, str(exc))
        return _consent_page(request, session, decline_form=form)
    return render(request, "exams/declined.html", {"session": session, "alternative": alternative})


@login_required
def exam_page(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """One page for system check, start, questions and submit, so the camera and screen streams the
    check acquires stay alive for the recording. An exam of the LMS is taken from the LMS's launch, which
    gives this page the assessment (exams.delivery)."""
    session = _own_session(request, session_id)
    assessment = None
    if session.exam.in_lms:
        # The LMS's assessment instead of questions: shown in a frame, or a window of its own.
        assessment = assessment_for(request, session)
        if assessment is None:
            return render(request, "exams/exam_in_lms.html", {"session": session, "exam": session.exam}, status=409)
    if session.status == SessionStatus.CREATED:
        return redirect("session_consent", session_id=session.pk)
    if session.status in BEFORE_START:
        policy = consent_policy_for(session.exam)
        outdated = consent_outdated_reason(session, policy)
        if outdated:
            if policy is not None:
                messages.info(request, outdated)
            return redirect("session_consent", session_id=session.pk)
    exam = session.exam
    questions = exam.questions.prefetch_related("choices")
    answers = {a.question_id: a for a in session.answers.prefetch_related("choices")}
    return render(
        request,
        "exams/exam.html",
        {
            "session": session,
            "exam": session.exam,
            "questions": [(q, answers.get(q.pk)) for q in questions],
            "allowed_minutes": session_allowed_minutes(session),
            "assessment": assessment,
            "exam_config": {
                "assessment": assessment,
                "session": str(session.pk),
                "status": session.status,
                "record": {"webcam": exam.record_webcam, "audio": exam.record_audio, "screen": exam.record_screen},
                "identity_required": session_identity_required(session),
                "deadline": session.deadline.isoformat(timespec="milliseconds") if session.deadline else None,
                "server_time": timezone.now().isoformat(timespec="milliseconds"),
                "breaks": break_state(session),
                "urls": {
                    "check": reverse("api_session_check", args=[session.pk]),
                    "probe": reverse("api_session_probe", args=[session.pk]),
                    "begin": reverse("api_session_begin", args=[session.pk]),
                    "answer": reverse("api_session_answer", args=[session.pk]),
                    "submit": reverse("api_session_submit", args=[session.pk]),
                    "break": reverse("api_session_break", args=[session.pk]),
                    "token": reverse("api_stream_token", args=[session.pk]),
                    "finalise": reverse("api_recordings_finalise", args=[session.pk]),
                    "identity": reverse("api_identity_status"),
                    "enrol": reverse("api_identity_enrol"),
                    "id_photo": reverse("api_identity_id_photo"),
                    "verify": reverse("api_identity_verify"),
                    "face_matching": reverse("api_identity_face_matching"),
                    "manual": reverse("api_identity_manual"),
                },
            },
        },
    )
