"""The student's pages and calls of an exam that requires Safe Exam Browser pass only when signed as
SEB signs them, for their own URL and with the exam's keys; anything else gets the page (or JSON) that
explains what to do, changes nothing and is audited. Staff and other exams are never checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from exams.models import ExamSession, SessionStatus
from lockdown.guard import requirement_for_student
from lockdown.models import SafeExamBrowserRequirement
from proctor.models import AuditEvent
from tests.conftest import World, audit_added_since, client_as
from tests.lockdown.conftest import BEK, MAC_KEY, OTHER_BEK, WIN_KEY, absolute, seb_headers

REFUSED = [("lockdown.refused", "refused")]


def consent_url(world: World) -> str:
    return reverse("session_consent", args=[world.session.pk])


def test_a_page_signed_with_the_exams_config_key_for_its_own_url_opens(seb_world: World) -> None:
    url = consent_url(seb_world)
    response = client_as(seb_world, "student").get(url, **seb_headers(absolute(url)))
    assert response.status_code == 200
    assert b"Open this exam in Safe Exam Browser" not in response.content


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no headers"),
        pytest.param(seb_headers(absolute("/sessions/elsewhere/consent/")), id="signed for another URL"),
        pytest.param(seb_headers("http://testserver/", config_key=MAC_KEY), id="signed for the site's root"),
        pytest.param(seb_headers("http://testserver/x", config_key=WIN_KEY), id="another configuration"),
        pytest.param({"HTTP_X_SAFEEXAMBROWSER_CONFIGKEYHASH": "f" * 64}, id="a made-up hash"),
    ],
)
def test_a_page_not_signed_as_seb_signs_it_gets_the_page_that_explains(
    seb_world: World, headers: dict[str, Any]
) -> None:
    url = consent_url(seb_world)
    client = client_as(seb_world, "student")
    before = AuditEvent.objects.count()
    response = client.get(url, **headers)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Open this exam in Safe Exam Browser" in page
    assert "safeexambrowser.org" in page
    assert reverse("lockdown_config_download", args=[seb_world.exam.pk]) in page
    assert audit_added_since(before) == REFUSED


def test_a_tampered_hash_is_refused(seb_world: World) -> None:
    url = consent_url(seb_world)
    good = seb_headers(absolute(url))["HTTP_X_SAFEEXAMBROWSER_CONFIGKEYHASH"]
    tampered = ("0" if good[0] != "0" else "1") + good[1:]
    response = client_as(seb_world, "student").get(url, HTTP_X_SAFEEXAMBROWSER_CONFIGKEYHASH=tampered)
    assert response.status_code == 403


def test_an_api_call_without_seb_gets_json_and_changes_nothing(seb_world: World) -> None:
    url = reverse("api_session_begin", args=[seb_world.session.pk])
    client = client_as(seb_world, "student")
    before = AuditEvent.objects.count()
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["safe_exam_browser"] is True
    assert "Safe Exam Browser" in body["detail"]
    assert body["download"] == reverse("lockdown_config_download", args=[seb_world.exam.pk])
    assert ExamSession.objects.get(pk=seb_world.session.pk).status == SessionStatus.CREATED
    assert audit_added_since(before) == REFUSED


def test_an_api_call_signed_for_its_url_reaches_the_api(seb_world: World) -> None:
    url = reverse("api_session_check", args=[seb_world.session.pk])
    response = client_as(seb_world, "student").post(
        url, {"checks": {}}, content_type="application/json", **seb_headers(absolute(url))
    )
    assert "safe_exam_browser" not in response.json()


def test_browser_exam_keys_are_checked_by_the_request_hash(seb_world: World) -> None:
    SafeExamBrowserRequirement.objects.filter(exam=seb_world.exam).update(
        config_key="", config_file=b"", config_file_name="", browser_exam_keys=[OTHER_BEK, BEK]
    )
    url = consent_url(seb_world)
    client = client_as(seb_world, "student")
    signed = seb_headers(absolute(url), config_key=None, browser_exam_key=BEK)
    assert client.get(url, **signed).status_code == 200
    unlisted = seb_headers(absolute(url), config_key=None, browser_exam_key="ab" * 32)
    assert client_as(seb_world, "student").get(url, **unlisted).status_code == 403


def test_with_a_file_and_browser_exam_keys_both_must_match(seb_world: World) -> None:
    SafeExamBrowserRequirement.objects.filter(exam=seb_world.exam).update(browser_exam_keys=[BEK])
    url = consent_url(seb_world)
    config_only = seb_headers(absolute(url))
    assert client_as(seb_world, "student").get(url, **config_only).status_code == 403
    both = seb_headers(absolute(url), browser_exam_key=BEK)
    assert client_as(seb_world, "student").get(url, **both).status_code == 200


def test_a_verified_exam_session_is_remembered_until_the_keys_change(seb_world: World) -> None:
    url = consent_url(seb_world)
    client = client_as(seb_world, "student")
    assert client.get(url, **seb_headers(absolute(url))).status_code == 200
    assert client.get(url).status_code == 200  # SEB's modern web view sends no headers
    wrong = seb_headers(absolute(url), config_key=WIN_KEY)
    assert client.get(url, **wrong).status_code == 403  # wrong headers are judged by themselves
    SafeExamBrowserRequirement.objects.filter(exam=seb_world.exam).update(browser_exam_keys=[BEK])
    assert client.get(url).status_code == 403


def test_staff_pages_and_other_exams_are_not_checked(seb_world: World) -> None:
    url = consent_url(seb_world)
    before = AuditEvent.objects.filter(action="lockdown.refused").count()
    # The instructor is refused by the page's own rule, not asked for Safe Exam Browser.
    response = client_as(seb_world, "instructor").get(url)
    assert b"Safe Exam Browser" not in response.content
    assert client_as(seb_world, "instructor").get(reverse("exam_setup", args=[seb_world.exam.pk])).status_code == 200
    SafeExamBrowserRequirement.objects.filter(exam=seb_world.exam).update(required=False)
    assert client_as(seb_world, "student").get(url).status_code == 200
    assert AuditEvent.objects.filter(action="lockdown.refused").count() == before


def _verify(client: Any, world: World, url: str, *, key: str = MAC_KEY) -> Any:
    from lockdown.config_key import request_hash

    return client.post(
        reverse("lockdown_javascript_verify", args=[world.session.pk]),
        json.dumps({"url": url, "config_key": request_hash(url, key), "browser_exam_key": ""}),
        content_type="application/json",
    )


def test_the_javascript_apis_keys_for_the_page_verify_the_exam_session(seb_world: World) -> None:
    url = consent_url(seb_world)
    client = client_as(seb_world, "student")
    assert client.get(url).status_code == 403
    response = _verify(client, seb_world, absolute(url) + "#top")
    assert response.status_code == 200, response.content
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="lockdown.verified").count() == 1


@pytest.mark.parametrize(
    ("page", "key", "status"),
    [
        pytest.param("own", WIN_KEY, 403, id="another configuration"),
        pytest.param("other session", MAC_KEY, 400, id="another student's page"),
        pytest.param("other site", MAC_KEY, 400, id="a page on another site"),
        pytest.param("not guarded", MAC_KEY, 400, id="a page that is not the exam's"),
    ],
)
def test_javascript_keys_for_anything_else_verify_nothing(seb_world: World, page: str, key: str, status: int) -> None:
    urls = {
        "own": absolute(consent_url(seb_world)),
        "other session": absolute(reverse("session_consent", args=[seb_world.other_session.pk])),
        "other site": "http://elsewhere.example" + consent_url(seb_world),
        "not guarded": absolute(reverse("home")),
    }
    client = client_as(seb_world, "student")
    response = _verify(client, seb_world, urls[page], key=key)
    assert response.status_code == status
    assert "detail" in response.json()
    assert client.get(consent_url(seb_world)).status_code == 403
    assert not AuditEvent.objects.filter(action="lockdown.verified").exists()


def test_the_check_reads_the_requirement_without_its_seb_file(seb_world: World) -> None:
    """Every guarded request and socket sign-in asks for the requirement; the .seb file (up to megabytes)
    is read only by its download."""
    requirement = requirement_for_student(seb_world.session.pk, seb_world.users["student"])
    assert requirement is not None
    assert requirement.config_file_name
    assert "config_file" in requirement.get_deferred_fields()
    assert requirement_for_student(seb_world.session.pk, seb_world.users["instructor"]) is None  # not theirs
