"""Launches of Invigil through the LMS of tests/lms, as a browser makes them: the LMS's third-party login
to Invigil, Invigil's redirect to the LMS's authorization endpoint, and the LMS's auto-posted id_token
back to Invigil's launch. The test client is the browser; the LMS is a real HTTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from django.test import Client

from exams.models import Course, Delivery, Exam
from lti.keys import key_set
from lti.models import Deployment, LtiContext, Platform, ResourceLink
from tests.factories import ExamFactory
from tests.lms.platform import FakeLms
from tests.lti.conftest import keys_served


@contextmanager
def invigil_key_set() -> Iterator[str]:
    """Invigil's published key set (as GET /lti/jwks/ serves it), from loopback, for the LMS to fetch."""
    with keys_served(key_set()["keys"]) as served:
        yield served.url


def register_invigil(lms: FakeLms, key_set_url: str) -> None:
    lms.register_tool(
        client_id="invigil",
        deployment_id="deployment-1",
        login_url="http://testserver/lti/login/",
        launch_url="http://testserver/lti/launch/",
        key_set_url=key_set_url,
    )


def launch(lms: FakeLms, browser: Client, message_type: str, **where: Any) -> Any:
    """One launch of ``message_type`` through the LMS; Invigil's answer to the launch post."""
    login = urlsplit(lms.login_url(message_type, **where))
    to_lms = browser.get(login.path, dict(parse_qsl(login.query)))
    assert to_lms.status_code == 302, to_lms.content
    form = requests.get(to_lms["Location"], timeout=10).text
    fields = {name: unescape(value) for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', form)}
    return browser.post("/lti/launch/", {"id_token": fields["id_token"], "state": fields["state"]})


def lms_in_invigil(lms: FakeLms, course: Course, *, display: str = "frame") -> Exam:
    """The LMS registered in Invigil for ``course``'s institution, its course "course-phys101" linked to
    ``course``, and its quiz "quiz-1" set up as a published exam of the LMS."""
    platform = Platform.objects.create(
        name="Test LMS",
        institution=course.institution,
        issuer=lms.issuer,
        client_id="invigil",
        auth_login_url=lms.authorize_url,
        auth_token_url=lms.token_url,
        keyset_url=lms.jwks_url,
        assessment_display=display,
    )
    Deployment.objects.create(platform=platform, deployment_id="deployment-1")
    context = LtiContext.objects.create(platform=platform, context_id="course-phys101", course=course)
    exam = ExamFactory(
        course=course, title="Midterm quiz", delivery=Delivery.LMS, duration_minutes=30, identity_check_required=True
    )
    ResourceLink.objects.create(platform=platform, resource_link_id="quiz-1", context=context, exam=exam)
    return exam
