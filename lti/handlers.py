"""The answers to verified launches of LTI 1.3 core: provision, sign the person in,
and send them on. The proctoring message types register their own handlers the same way
(lti.launch.message_handler)."""

from __future__ import annotations

from django.contrib import auth
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from exams.models import Role
from lti.launch import RESOURCE_LINK, Launch, message_handler
from lti.provisioning import Provisioned, launch_provision
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


def sign_in(request: HttpRequest, provisioned: Provisioned, launch: Launch) -> None:
    """A fresh session for the launched person, whoever was signed in before in this browser."""
    if request.user.is_authenticated:
        auth.logout(request)
    auth.login(request, provisioned.user, backend="django.contrib.auth.backends.ModelBackend")
    audit_record(
        actor=provisioned.user,
        action=AuditAction.LTI_LAUNCH,
        target=provisioned.exam or provisioned.course,
        request=request,
        detail={**launch.audit_context(), "role": provisioned.role},
    )


@message_handler("LtiResourceLinkRequest", requires=(RESOURCE_LINK,))
def resource_link_launch(request: HttpRequest, launch: Launch) -> HttpResponse:
    """A student goes to the exam's lobby, an instructor to its setup, a reviewer to the course's reviews."""
    provisioned = launch_provision(launch, with_exam=True)
    assert provisioned.exam is not None
    sign_in(request, provisioned, launch)
    if provisioned.role == Role.STUDENT:
        return HttpResponseRedirect(reverse("exam_lobby", args=[provisioned.exam.pk]))
    if provisioned.role == Role.INSTRUCTOR:
        return HttpResponseRedirect(reverse("exam_setup", args=[provisioned.exam.pk]))
    return HttpResponseRedirect(reverse("review_dashboard", args=[provisioned.course.pk]))
