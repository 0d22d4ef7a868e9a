"""The answers to verified launches of LTI 1.3 core and Deep Linking 2.0: provision, sign the person in,
and send them on. The proctoring message types register their own handlers the same way
(lti.launch.message_handler)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from exams.models import Role
from lti.deep_linking import PendingChoice
from lti.errors import LaunchInvalid, LaunchNotAllowed
from lti.handover import Handover
from lti.launch import DEEP_LINKING_SETTINGS, LAUNCH_PRESENTATION, RESOURCE_LINK, Launch, message_handler, web_address
from lti.provisioning import Provisioned, course_role_for, launch_provision
from lti.views import choice_page, sign_in_afresh
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


def sign_in(request: HttpRequest, provisioned: Provisioned, launch: Launch) -> None:
    """A fresh session for the launched person, and the launch in the audit log."""
    sign_in_afresh(request, provisioned.user)
    audit_record(
        actor=provisioned.user,
        action=AuditAction.LTI_LAUNCH,
        target=provisioned.exam or provisioned.course,
        request=request,
        detail={**launch.audit_context(), "role": provisioned.role},
    )


@message_handler("LtiResourceLinkRequest", requires=(RESOURCE_LINK,))
def resource_link_launch(request: HttpRequest, launch: Launch) -> HttpResponse:
    """A student goes to the exam's lobby, an instructor to its setup, a reviewer to the course's reviews;
    from inside the LMS's frame, by a button that opens them in a window of their own (lti.handover)."""
    provisioned = launch_provision(launch, with_exam=True)
    assert provisioned.exam is not None
    sign_in(request, provisioned, launch)
    if provisioned.role == Role.STUDENT:
        destination = reverse("exam_lobby", args=[provisioned.exam.pk])
    elif provisioned.role == Role.INSTRUCTOR:
        destination = reverse("exam_setup", args=[provisioned.exam.pk])
    else:
        destination = reverse("review_dashboard", args=[provisioned.course.pk])
    if not shown_in_frame(launch):
        return HttpResponseRedirect(destination)
    handover = Handover(user=provisioned.user.pk, platform=launch.platform.pk, next_path=destination)
    response = render(request, "lti/open_in_window.html", {"exam": provisioned.exam, "handover": handover.dumps()})
    response.xframe_options_exempt = True
    return response


def shown_in_frame(launch: Launch) -> bool:
    """Whether the LMS shows this launch inside its own page (LTI launch_presentation.document_target)."""
    presentation = launch.claims.get(LAUNCH_PRESENTATION)
    return isinstance(presentation, dict) and presentation.get("document_target") in ("iframe", "frame", "embed")


@message_handler("LtiDeepLinkingRequest", requires=(DEEP_LINKING_SETTINGS,))
def deep_linking_launch(request: HttpRequest, launch: Launch) -> HttpResponse:
    """An instructor adding Invigil to an LMS item chooses the exam on a page shown in the LMS's frame."""
    settings: Any = launch.claims[DEEP_LINKING_SETTINGS]
    where = launch.audit_context()
    if web_address(settings.get("deep_link_return_url") if isinstance(settings, dict) else None) is None:
        # The page posts the answer there by script: nothing but a web address.
        raise LaunchInvalid("The LMS's deep-linking request has no return address.", reason="malformed_claim", **where)
    if "ltiResourceLink" not in (settings.get("accept_types") or []):
        raise LaunchInvalid(
            "The LMS does not accept an LTI link here, which is all Invigil can offer.",
            reason="link_not_accepted",
            **where,
        )
    if course_role_for(launch.roles) != Role.INSTRUCTOR:
        raise LaunchNotAllowed(
            "Only the course's instructors attach Invigil exams to LMS items.", reason="not_instructor", **where
        )
    provisioned = launch_provision(launch, with_exam=False)
    sign_in(request, provisioned, launch)
    pending = PendingChoice(
        platform=launch.platform.pk,
        deployment_id=launch.deployment.deployment_id,
        course=provisioned.course.pk,
        user=provisioned.user.pk,
        return_url=settings["deep_link_return_url"],
        data=settings.get("data"),
    )
    return choice_page(request, pending)
