"""IMS LTI Proctoring Services 1.0, the tool's side: LtiStartProctoring leads the student through
Invigil's consent and checks; LtiStartAssessment (signed by Invigil, echoing the LMS's session data and
attempt number) hands them to the LMS's assessment while recording goes on; LtiEndAssessment ends the
attempt. Each attempt of the LMS is one exam session (exams.ExamSession.attempt_number).

How the assessment is shown while recording goes on: the exam page (exams.attempt_views.exam_page, through
exams.delivery) posts LtiStartAssessment into a frame of itself, so one page keeps the camera, microphone
and screen streams. An LMS whose pages refuse to be framed (X-Frame-Options, CSP frame-ancestors), or
whose session cookie is not sent to a cross-site frame, gets its assessment in a window of its own
instead: the student opens it from the exam page, which stays open and records; the window's opening is a
browser signal, and the exam page being hidden or unfocused from then on is no evidence
(analysis.browser). A platform can be set to use the window from the start (Platform.assessment_display).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from exams.lifecycle import ATTEMPT_OVER
from exams.models import Exam, ExamSession, Role, SessionStatus
from exams.services import ExamUnavailable, session_open, session_submit
from lti.errors import LaunchInvalid, LaunchNotAllowed
from lti.handlers import shown_in_frame, sign_in
from lti.handover import Handover
from lti.keys import sign
from lti.launch import (
    DEPLOYMENT_ID,
    LAUNCH_PRESENTATION,
    MESSAGE_TYPE,
    RESOURCE_LINK,
    VERSION,
    Launch,
    in_the_clear,
    message_handler,
    web_address,
)
from lti.models import AssessmentDisplay, LtiContext, Platform, ProctoringAttempt, ResourceLink
from lti.permissions import LtiAction, can_lti
from lti.provisioning import course_role_for, launch_provision, lms_exam_draft
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction

AP_CLAIM = "https://purl.imsglobal.org/spec/lti-ap/claim/"
START_ASSESSMENT_URL = AP_CLAIM + "start_assessment_url"
SESSION_DATA = AP_CLAIM + "session_data"
ATTEMPT_NUMBER = AP_CLAIM + "attempt_number"
ACS = AP_CLAIM + "acs"
END_ASSESSMENT_RETURN = AP_CLAIM + "end_assessment_return"
PROCTORING_SETTINGS = AP_CLAIM + "proctoring_settings"
#: The LMS's session data is opaque; an LMS that sends more than this is sending something else.
MAX_SESSION_DATA = 8192
#: How long the LMS has to accept Invigil's LtiStartAssessment.
START_ASSESSMENT_LIFETIME = timedelta(minutes=5)


def _attempt_number(launch: Launch) -> int:
    value = launch.claims.get(ATTEMPT_NUMBER)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LaunchInvalid(
            "The LMS's attempt number is not a whole number from 1.",
            reason="malformed_claim",
            claim="attempt_number",
            **launch.audit_context(),
        )
    return value


def _start_assessment_url(launch: Launch) -> str:
    url = web_address(launch.claims.get(START_ASSESSMENT_URL))
    if url is None:
        raise LaunchInvalid(
            "The LMS's start-assessment address is not a web address.",
            reason="malformed_claim",
            claim="start_assessment_url",
            **launch.audit_context(),
        )
    if in_the_clear(url):
        raise LaunchInvalid(
            "The LMS's start-assessment address is not HTTPS: the signed message would travel in the clear.",
            reason="insecure_url",
            claim="start_assessment_url",
            **launch.audit_context(),
        )
    return url


def _session_data(launch: Launch) -> str:
    data = launch.claims.get(SESSION_DATA)
    if not isinstance(data, str) or len(data) > MAX_SESSION_DATA:
        raise LaunchInvalid(
            "The LMS's session data is missing or too long.",
            reason="malformed_claim",
            claim="session_data",
            **launch.audit_context(),
        )
    return data


def _platform_hosts(platform: Platform) -> set[str]:
    urls = (platform.issuer, platform.auth_login_url, platform.auth_token_url, platform.keyset_url)
    return {host for host in (urlsplit(url).hostname for url in urls) if host}


def _acs(launch: Launch) -> tuple[str, list[str]]:
    """The Assessment Control Service the launch offers, or none. Invigil's server posts to it with the
    platform's bearer token, so only over HTTPS (plain HTTP on loopback, for development) and only to a host
    of the platform's own registered URLs: a launch cannot point Invigil at another server."""
    acs = launch.claims.get(ACS)
    if not isinstance(acs, dict):
        return "", []
    url = web_address(acs.get("assessment_control_url"))
    actions = acs.get("actions")
    if url is None or in_the_clear(url) or urlsplit(url).hostname not in _platform_hosts(launch.platform):
        return "", []
    return url, [a for a in actions if isinstance(a, str)] if isinstance(actions, list) else []


def _return_url(launch: Launch) -> str:
    presentation = launch.claims.get(LAUNCH_PRESENTATION)
    return web_address(presentation.get("return_url") if isinstance(presentation, dict) else None) or ""


def _draft_exam_for_link(request: HttpRequest, launch: Launch, provisioned: Any) -> Exam:
    """The first launch of an LMS assessment by its instructor: its draft exam, bound to the launched link."""
    title = str((launch.resource_link or {}).get("title") or "")
    exam = lms_exam_draft(course=provisioned.course, title=title, actor=provisioned.user, request=request)
    context = LtiContext.objects.get(platform=launch.platform, context_id=launch.context_id)
    ResourceLink.objects.create(
        platform=launch.platform, resource_link_id=launch.resource_link_id or "", context=context, exam=exam
    )
    return exam


@message_handler("LtiStartProctoring", requires=(RESOURCE_LINK, START_ASSESSMENT_URL, SESSION_DATA, ATTEMPT_NUMBER))
def start_proctoring(request: HttpRequest, launch: Launch) -> HttpResponse:
    """The student arrives from the LMS's assessment: open (or resume) the session of this attempt, keep
    what LtiStartAssessment must echo, and lead them to consent and the checks."""
    attempt_number = _attempt_number(launch)
    start_url = _start_assessment_url(launch)
    session_data = _session_data(launch)
    where = launch.audit_context()
    role = course_role_for(launch.roles)
    if role != Role.STUDENT:
        return _staff_preview(request, launch, role)
    acs_url, acs_actions = _acs(launch)
    # One transaction: a refusal after provisioning (an exam not of the LMS, not published, closed...)
    # leaves no account, course, role or link behind, as the refusal page says.
    with transaction.atomic():
        provisioned = _provisioned_for_proctoring(launch)
        exam = provisioned.exam
        assert exam is not None
        try:
            session = session_open(exam=exam, student=provisioned.user, attempt=attempt_number, request=request)
        except ExamUnavailable as unavailable:
            raise LaunchNotAllowed(str(unavailable), reason="exam_unavailable", **where) from unavailable
        fields = {
            "platform": launch.platform,
            "deployment_id": launch.deployment.deployment_id,
            "resource_link_id": launch.resource_link_id or "",
            "sub": launch.sub,
            "attempt_number": attempt_number,
            "session_data": session_data,
            "start_assessment_url": start_url,
            "acs_url": acs_url,
            "acs_actions": acs_actions,
            "return_url": _return_url(launch),
        }
        attempt, created = ProctoringAttempt.objects.select_for_update().get_or_create(
            session=session, defaults={**fields, "display": launch.platform.assessment_display}
        )
        if not created:
            # The LMS started the same attempt again (a reload, another device, another of its items bound
            # to the same exam): its latest data counts, and is what LtiStartAssessment echoes.
            for name, value in fields.items():
                setattr(attempt, name, value)
            attempt.save(update_fields=list(fields))
    sign_in(request, provisioned, launch)
    audit_record(
        actor=provisioned.user,
        action=AuditAction.LTI_START_PROCTORING,
        target=session,
        request=request,
        detail={**where, "attempt_number": attempt_number, "acs_actions": acs_actions},
    )
    if session.status in ATTEMPT_OVER:
        return render(request, "lti/attempt_over.html", {"session": session, "attempt": attempt}, status=409)
    destination = reverse("session_exam", args=[session.pk])
    if shown_in_frame(launch):
        # The camera, the screen and the recording need a page of Invigil's own, not a frame of the LMS.
        handover = Handover(user=provisioned.user.pk, platform=launch.platform.pk, next_path=destination)
        response = render(request, "lti/open_in_window.html", {"exam": exam, "handover": handover.dumps()})
        response.xframe_options_exempt = True
        return response
    return HttpResponseRedirect(destination)


def _provisioned_for_proctoring(launch: Launch) -> Any:
    """The student's account, course and role, and the exam of the LMS the launched link stands for."""
    where = launch.audit_context()
    try:
        provisioned = launch_provision(launch, with_exam=True)
    except LaunchInvalid as refusal:
        if refusal.reason != "no_exam_attached":
            raise
        raise LaunchInvalid(
            "Proctoring of this assessment is not set up in Invigil yet. Your instructor sets it up by opening "
            "the assessment from the LMS once; nothing was recorded.",
            reason="proctoring_not_set_up",
            **where,
        ) from refusal
    assert provisioned.exam is not None
    if not provisioned.exam.in_lms:
        raise LaunchNotAllowed(
            "This LMS item is attached to an exam written in Invigil, not to an assessment of the LMS. Open it "
            "as a link to Invigil instead.",
            reason="not_an_lms_exam",
            **where,
        )
    return provisioned


def _staff_preview(request: HttpRequest, launch: Launch, role: str | None) -> HttpResponse:
    """An instructor opening the LMS's assessment (its preview, or setting it up): the exam of the LMS that
    stands for it, made as a draft the first time, on its setup page. Reviewers and others get nothing."""
    if role != Role.INSTRUCTOR:
        raise LaunchNotAllowed(
            "Only students take a proctored assessment, and only the course's instructors set one up.",
            reason="no_course_role" if role is None else "not_instructor",
            **launch.audit_context(),
        )
    with transaction.atomic():
        try:
            provisioned = launch_provision(launch, with_exam=True)
            exam = provisioned.exam
            assert exam is not None
        except LaunchInvalid as refusal:
            if refusal.reason != "no_exam_attached":
                raise
            provisioned = launch_provision(launch, with_exam=False)
            exam = _draft_exam_for_link(request, launch, provisioned)
    sign_in(request, provisioned, launch)
    return HttpResponseRedirect(reverse("exam_setup", args=[exam.pk]))


# --- LtiStartAssessment -----------------------------------------------------------------------------


def start_assessment_message(attempt: ProctoringAttempt) -> str:
    """The signed LtiStartAssessment for ``attempt``: from Invigil (the LMS's client id) to the LMS (its
    issuer), echoing the session data and attempt number exactly, and asking for LtiEndAssessment."""
    platform = attempt.platform
    now = timezone.now()
    return sign(
        {
            "iss": platform.client_id,
            "aud": platform.issuer,
            "sub": attempt.sub,
            "iat": int(now.timestamp()),
            "exp": int((now + START_ASSESSMENT_LIFETIME).timestamp()),
            "nonce": secrets.token_urlsafe(24),
            "jti": secrets.token_urlsafe(24),
            MESSAGE_TYPE: "LtiStartAssessment",
            VERSION: "1.3.0",
            DEPLOYMENT_ID: attempt.deployment_id,
            RESOURCE_LINK: {"id": attempt.resource_link_id},
            SESSION_DATA: attempt.session_data,
            ATTEMPT_NUMBER: attempt.attempt_number,
            END_ASSESSMENT_RETURN: True,
        }
    )


def start_assessment(request: HttpRequest, session: ExamSession, *, display: str) -> HttpResponse:
    """The page that posts LtiStartAssessment to the LMS, in the exam page's frame or the assessment's own
    window. Only while the attempt runs: recording has started with it."""
    attempt = ProctoringAttempt.objects.select_related("platform").filter(session=session).first()
    if attempt is None:
        raise LaunchInvalid(
            "This session was not started from the LMS: start the assessment from your course there.",
            reason="no_lms_attempt",
        )
    if session.status != SessionStatus.STARTED:
        raise ExamUnavailable("The assessment opens once you have started: press Start on the exam page first.")
    attempt.display = display if display in AssessmentDisplay.values else AssessmentDisplay.FRAME
    attempt.assessment_sent_at = timezone.now()
    attempt.save(update_fields=["display", "assessment_sent_at"])
    audit_record(
        actor=request.user,
        action=AuditAction.LTI_START_ASSESSMENT,
        target=session,
        request=request,
        detail={"attempt_number": attempt.attempt_number, "display": attempt.display},
    )
    response = render(
        request,
        "lti/start_assessment.html",
        {"attempt": attempt, "jwt": start_assessment_message(attempt), "platform": attempt.platform},
    )
    # This page is shown inside Invigil's own exam page; it then posts on to the LMS.
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


# --- LtiEndAssessment -------------------------------------------------------------------------------


@message_handler("LtiEndAssessment", requires=(RESOURCE_LINK, ATTEMPT_NUMBER))
def end_assessment(request: HttpRequest, launch: Launch) -> HttpResponse:
    """The LMS says the student finished its assessment: the attempt's session ends, as if submitted at
    Invigil; the exam page (still open) stops recording and uploads the rest."""
    attempt_number = _attempt_number(launch)
    attempt = (
        ProctoringAttempt.objects.select_related("session", "session__student")
        .filter(
            platform=launch.platform,
            resource_link_id=launch.resource_link_id,
            sub=launch.sub,
            attempt_number=attempt_number,
        )
        .first()
    )
    if attempt is None:
        raise LaunchInvalid(
            "The LMS ended an attempt that Invigil never started.",
            reason="unknown_attempt",
            attempt_number=attempt_number,
            **launch.audit_context(),
        )
    session = attempt.session
    if session.status == SessionStatus.STARTED:
        session = session_submit(session_id=session.pk, actor=session.student, request=request)
    attempt.ended_by_lms_at = timezone.now()
    attempt.save(update_fields=["ended_by_lms_at"])
    audit_record(
        actor=session.student,
        action=AuditAction.LTI_END_ASSESSMENT,
        target=session,
        request=request,
        detail={**launch.audit_context(), "attempt_number": attempt_number, "status": session.status},
    )
    return_url = _return_url(launch) or attempt.return_url
    response = render(request, "lti/assessment_ended.html", {"session": session, "return_url": return_url})
    # It lands where the assessment was: in the frame of Invigil's exam page, or the assessment's window.
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def assessment_for(request: HttpRequest, session: ExamSession) -> dict[str, Any] | None:
    """exams.delivery's provider: what the exam page needs to show this session's assessment of the LMS."""
    attempt = ProctoringAttempt.objects.select_related("platform").filter(session=session).first()
    if attempt is None:
        return None
    return {
        "start": reverse("lti_start_assessment", args=[session.pk]),
        "status": reverse("lti_assessment_status", args=[session.pk]),
        "display": attempt.display,
        "platform": attempt.platform.name,
    }


def control_links(request: HttpRequest, session: ExamSession) -> list[tuple[str, str]]:
    """exams.delivery's session links: the attempt's assessment control page, for those who may see it."""
    attempt = ProctoringAttempt.objects.select_related("platform").filter(session=session).first()
    if attempt is None or not can_lti(request.user, LtiAction.VIEW_CONTROL, session):
        return []
    return [(f"Assessment control in {attempt.platform.name}", reverse("lti_control", args=[session.pk]))]
