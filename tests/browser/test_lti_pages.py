"""In a real browser: the LTI pages (the refusal, the deep-linking choice, the framed launch's new-window
page, the platform admin) pass axe's WCAG 2.1 A and AA checks, and an instructor attaches an
exam with the keyboard alone, the signed answer reaching the LMS's return address."""

from __future__ import annotations

import io
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from exams.models import Exam
from identity.models import User
from lti.deep_linking import PendingChoice
from lti.launch import CLAIM, DL_CLAIM
from lti.models import Deployment, LtiContext, Platform
from tests.browser.test_accessibility import Pages
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.lti.conftest import CLIENT_ID, DEPLOYMENT, ISSUER, Lms, key_set_served

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_lti_pages_pass_axe_and_an_exam_is_attached_with_the_keyboard(page: Any, live_server: Any) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    exam = Exam.objects.get(title="Midterm: mechanics")
    platform = Platform.objects.create(
        name="Moodle",
        institution=exam.course.institution,
        issuer="https://lms.example.edu",
        client_id="invigil",
        auth_login_url="https://lms.example.edu/auth",
        auth_token_url="https://lms.example.edu/token",
        keyset_url="https://lms.example.edu/jwks",
    )
    return_url = f"{live_server.url}/lms-return"
    pending = PendingChoice(
        platform=platform.pk,
        deployment_id="1",
        course=exam.course_id,
        user=User.objects.get(username="instructor").pk,
        return_url=return_url,
    )
    posted: list[str] = []

    def lms_return(route: Any) -> None:
        posted.append(route.request.post_data or "")
        route.fulfill(content_type="text/html", body="<!DOCTYPE html><html lang='en'><title>LMS</title><h1>LMS</h1>")

    page.route(return_url, lms_return)
    pages = Pages(page, live_server.url)
    pages.check("lti-refused", "/lti/login/?iss=https%3A%2F%2Funknown.example&login_hint=x&target_link_uri=x")
    # The LMS's frame: a page of another origin posts the choice page's form, as the launch would show it.
    page.goto(f"{live_server.url}/healthz/")
    page.set_content(
        f'<form method="post" action="{live_server.url}{reverse("lti_deep_link")}">'
        f'<input type="hidden" name="pending" value="{pending.dumps()}"><button>Open</button></form>'
    )
    with page.expect_navigation():
        page.click("button")
    pages.check("lti-deep-link-choice")
    page.get_by_label("Midterm: mechanics").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    with page.expect_navigation(url=return_url):
        page.keyboard.press("Enter")
    [body] = posted
    token = body.removeprefix("JWT=")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims[DL_CLAIM + "content_items"][0]["custom"] == {"invigil_exam": str(exam.pk)}
    # A launch the LMS shows in its frame: the page offering a window of Invigil's own.
    with key_set_served(lms_key := rsa.generate_private_key(public_exponent=65537, key_size=2048)) as served:
        Platform.objects.filter(pk=platform.pk).update(issuer=ISSUER, client_id=CLIENT_ID, keyset_url=served.url)
        Deployment.objects.create(platform=platform, deployment_id=DEPLOYMENT)
        context = {"id": "ctx-1", "label": "L", "title": "T"}
        LtiContext.objects.create(platform=platform, context_id="ctx-1", course=exam.course)
        framed = Lms(lms_key, Client()).launch(
            **{
                CLAIM + "context": context,
                CLAIM + "custom": {"invigil_exam": str(exam.pk)},
                CLAIM + "launch_presentation": {"document_target": "iframe"},
            }
        )
    assert framed.status_code == 200
    page.route(
        f"{live_server.url}/lms-frame", lambda route: route.fulfill(content_type="text/html", body=framed.content)
    )
    pages.check("lti-open-in-window", "/lms-frame")
    page.context.clear_cookies()
    sign_in_with_keyboard(page, live_server.url, "admin", "invigil-demo")
    pages.check("admin-lti-platform-add", reverse("admin:lti_platform_add"))
    pages.check("admin-lti-platform", reverse("admin:lti_platform_change", args=[platform.pk]))
    pages.assert_none_found()
