"""Out of the LMS's frame: a framed launch offers a button that signs the person in, once, in a window of
their own, and opens the page the launch leads to, which checks their permissions as always."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lti.handover import Handover
from lti.launch import CLAIM
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, refusals_expected
from tests.lti.conftest import Lms, exam_link, form_field, refusals

pytestmark = pytest.mark.django_db

FRAMED = {CLAIM + "launch_presentation": {"document_target": "iframe", "return_url": "https://lms.example.edu/x"}}


def test_a_framed_launch_offers_a_new_window_that_opens_the_lobby_once(
    world: World, lms: Lms, linked_course: Any
) -> None:
    response = lms.launch(**FRAMED, **exam_link(world.exam.pk))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    html = response.content.decode()
    assert "Open Midterm in a new window" in html
    assert 'target="_blank"' in html
    window = Client()
    opened = window.post("/lti/continue/", {"handover": form_field(html, "handover")})
    assert opened["Location"] == f"/exams/{world.exam.pk}/lobby/"
    assert window.get(opened["Location"]).status_code == 200
    assert window.post("/lti/continue/", {"handover": form_field(html, "handover")}).status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["handover_reused"]


def test_a_launch_in_a_window_goes_straight_to_the_lobby(world: World, lms: Lms, linked_course: Any) -> None:
    presentation = {CLAIM + "launch_presentation": {"document_target": "window"}}
    response = lms.launch(**presentation, **exam_link(world.exam.pk))
    assert response["Location"] == f"/exams/{world.exam.pk}/lobby/"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not-signed", "handover_altered"),
        (Handover(user=1, platform=1, next_path="//evil.example/").dumps(), "handover_altered"),
        (Handover(user=1, platform=1, next_path="https://evil.example/").dumps(), "handover_altered"),
    ],
)
def test_a_handover_not_made_by_invigil_or_leading_off_it_is_refused(
    world: World, platform: Any, value: str, reason: str
) -> None:
    client = Client()
    response = client.post("/lti/continue/", {"handover": value})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert [event.detail["reason"] for event in refusals()] == [reason]


def test_an_old_handover_is_refused(world: World, platform: Any, time_machine: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    time_machine.move_to(timezone.now())
    value = Handover(user=world.users["student"].pk, platform=platform.pk, next_path="/").dumps()
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    assert Client().post("/lti/continue/", {"handover": value}).status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["handover_expired"]


@pytest.mark.parametrize("role", [role for role in ROLES if role != "anonymous"])
def test_the_page_a_handover_opens_still_checks_who_may_see_it(world: World, platform: Any, role: str) -> None:
    """A handover to the new-exam page of world.course, made out to each of the cast: it signs them in, and
    the page lets only the course's instructors (and admins) in."""
    window = Client()
    next_path = reverse("exam_new", args=[world.course.pk])
    handover = Handover(user=world.users[role].pk, platform=platform.pk, next_path=next_path)
    assert window.post("/lti/continue/", {"handover": handover.dumps()})["Location"] == next_path
    events_before = AuditEvent.objects.count()
    page = window.get(next_path)
    if role in {"instructor", "admin"}:
        assert page.status_code == 200
        return
    assert page.status_code == 403
    assert list(AuditEvent.objects.filter(seq__gt=events_before).values_list("action", "outcome")) == (
        refusals_expected(role)
    )


def test_a_handover_posted_from_another_sites_page_signs_no_one_in(world: World, lms: Lms, linked_course: Any) -> None:
    """Login CSRF: an attacker's own unused handover, auto-posted from their page in the victim's browser."""
    html = lms.launch(**FRAMED, **exam_link(world.exam.pk)).content.decode()
    victim = Client()
    planted = victim.post(
        "/lti/continue/", {"handover": form_field(html, "handover")}, HTTP_ORIGIN="https://attacker.example"
    )
    assert planted.status_code == 403
    assert "_auth_user_id" not in victim.session
    # The same handover still works from Invigil's own page (it was not used up).
    opened = victim.post(
        "/lti/continue/", {"handover": form_field(html, "handover")}, HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert opened["Location"] == f"/exams/{world.exam.pk}/lobby/"
