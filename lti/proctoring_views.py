"""The student's side of a proctored assessment of the LMS, after the launch: the page that posts
LtiStartAssessment, and the attempt's status for the exam page; and the staff's Assessment Control page.
Who may do what is decided in lti.permissions."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exams.models import ExamSession
from lti import acs
from lti.models import ControlAction, ProctoringAttempt
from lti.permissions import LtiAction, require
from lti.proctoring import start_assessment
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Refusal


def _session(session_id: uuid.UUID) -> ExamSession:
    return get_object_or_404(ExamSession.objects.select_related("exam__course", "student"), pk=session_id)


@login_required
@require_POST
@never_cache
def start_assessment_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session(session_id)
    require(request.user, LtiAction.TAKE_ASSESSMENT, session)
    return start_assessment(request, session, display=request.POST.get("display", ""))


@login_required
@require_GET
@never_cache
def assessment_status_view(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """The session's status, which the exam page asks for while the LMS's assessment is open: the LMS's
    LtiEndAssessment may arrive in another window."""
    session = _session(session_id)
    require(request.user, LtiAction.TAKE_ASSESSMENT, session)
    return JsonResponse({"status": session.status})


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def control_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """What the LMS lets Invigil do about this attempt (Assessment Control Service), what was done, and a
    form to do it: a person chooses the action and says why."""
    session = _session(session_id)
    require(request.user, LtiAction.VIEW_CONTROL, session)
    attempt = get_object_or_404(ProctoringAttempt.objects.select_related("platform"), session=session)
    if request.method == "GET":
        audit_record(actor=request.user, action=AuditAction.LTI_CONTROL_VIEW, target=session, request=request)
    form = acs.ControlForm(request.POST or None, attempt=attempt)
    status = 200
    if request.method == "POST":
        require(request.user, LtiAction.CONTROL_ATTEMPT, session)
        if form.is_valid():
            try:
                sent = acs.control_send(
                    attempt=attempt,
                    action=form.cleaned_data["action"],
                    reason=form.cleaned_data["reason"],
                    flag=form.cleaned_data.get("flag_object"),
                    actor=request.user,
                    request=request,
                )
            except Refusal as refusal:
                form.add_error(None, str(refusal))
                status = refusal.status_code
            else:
                messages.success(request, f"{ControlAction(sent.action).label}: {sent.get_outcome_display()}.")
                return redirect("lti_control", session_id=session.pk)
        else:
            status = 400
    return render(
        request,
        "lti/control.html",
        {
            "session": session,
            "attempt": attempt,
            "form": form,
            "history": attempt.control_requests.select_related("requested_by"),
            "confirmed_flags": acs.confirmed_flags(session),
        },
        status=status,
    )
