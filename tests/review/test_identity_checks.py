"""The staff's queue of manual identity checks: the photo ID shown beside the class-list name, decided
with a reason, every look and decision audited, and the photo gone once decided."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from identity.models import IdentityCheck, IdentityProfile
from identity.services import identity_request_manual_check, identity_store_id_photo
from proctor.models import AuditEvent
from tests.conftest import World, client_as
from tests.identity.test_identity_api import jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(world: World) -> IdentityCheck:
    student = world.users["student"]
    student.first_name, student.last_name = "Barack", "Obama"
    student.save()
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    check, _ = identity_request_manual_check(user=student, reference=str(world.session.pk))
    return check


def test_the_course_staff_see_the_waiting_check_with_the_photo_id(world: World, requested: IdentityCheck) -> None:
    page = client_as(world, "reviewer").get(reverse("review_identity_checks")).content.decode()
    assert "Barack Obama" in page
    assert world.exam.title in page
    assert reverse("review_identity_check_photo", args=[requested.pk]) in page
    assert 'name="reason"' in page
    assert "required" in page


def test_staff_of_another_course_see_an_empty_queue(world: World, requested: IdentityCheck) -> None:
    page = client_as(world, "other_instructor").get(reverse("review_identity_checks")).content.decode()
    assert "Barack Obama" not in page
    assert "No identity checks are waiting" in page


def test_each_look_at_the_photo_id_is_audited_with_its_purpose(world: World, requested: IdentityCheck) -> None:
    response = client_as(world, "instructor").get(reverse("review_identity_check_photo", args=[requested.pk]))
    assert response.status_code == 200
    assert response.content == jpeg("obama2.jpg")
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="identity.id_photo_view")
    assert event.actor_id == world.users["instructor"].pk
    assert f"manual identity check {requested.pk}" in event.detail["purpose"]


def test_a_decision_without_a_reason_is_refused_and_changes_nothing(world: World, requested: IdentityCheck) -> None:
    client = client_as(world, "reviewer")
    response = client.post(
        reverse("review_identity_check_decide", args=[requested.pk]),
        {"decision": "confirm", "reason": " "},
        follow=True,
    )
    assert "Say why" in response.content.decode()
    requested.refresh_from_db()
    assert requested.decision == "pending"
    assert IdentityProfile.objects.get(user=world.users["student"]).id_photo_name
    response = client.post(
        reverse("review_identity_check_decide", args=[requested.pk]),
        {"decision": "maybe", "reason": "Hm."},
        follow=True,
    )
    assert "Choose whether the photo ID matches" in response.content.decode()
    assert IdentityCheck.objects.get(pk=requested.pk).decision == "pending"


def test_a_decision_is_recorded_audited_and_the_photo_id_deleted(world: World, requested: IdentityCheck) -> None:
    client = client_as(world, "reviewer")
    response = client.post(
        reverse("review_identity_check_decide", args=[requested.pk]),
        {"decision": "reject", "reason": "The card shows another name."},
        follow=True,
    )
    page = response.content.decode()
    assert "Identity of Barack Obama not confirmed. The photo ID is deleted." in page
    assert "The card shows another name." in page  # in the recently decided list
    requested.refresh_from_db()
    assert (requested.decision, requested.decided_by_id) == ("rejected", world.users["reviewer"].pk)
    assert AuditEvent.objects.get(action="identity.manual_decide").actor_id == world.users["reviewer"].pk
    assert IdentityProfile.objects.get(user=world.users["student"]).id_photo_name == ""
    assert client.get(reverse("review_identity_check_photo", args=[requested.pk])).status_code == 404


def test_a_check_for_someone_elses_session_is_not_shown_or_decidable(world: World) -> None:
    # A student cannot put themselves into the queue of a session that is not theirs.
    other: Any = world.users["other_student"]
    identity_store_id_photo(user=other, photo=jpeg("biden.jpg"))
    check, _ = identity_request_manual_check(user=other, reference=str(world.session.pk))
    client = client_as(world, "instructor")
    assert (
        reverse("review_identity_check_photo", args=[check.pk])
        not in client.get(reverse("review_identity_checks")).content.decode()
    )
    assert client.get(reverse("review_identity_check_photo", args=[check.pk])).status_code == 404


def test_a_reason_with_a_control_character_gets_400_and_decides_nothing(world: World, requested: IdentityCheck) -> None:
    client = client_as(world, "reviewer")
    url = reverse("review_identity_check_decide", args=[requested.pk])
    refused = client.post(url, {"decision": "reject", "reason": "The card\x00 shows another name."})
    assert refused.status_code == 400
    assert "control character" in refused.content.decode()
    assert IdentityCheck.objects.get(pk=requested.pk).decision == "pending"
    assert IdentityProfile.objects.get(user=world.users["student"]).id_photo_name


def test_from_a_course_page_the_queue_shows_that_courses_checks_only(world: World, requested: IdentityCheck) -> None:
    client = client_as(world, "admin")
    mine = client.get(reverse("review_identity_checks"), {"course": world.course.pk}).content.decode()
    assert "Barack Obama" in mine
    assert f"{world.course.code} {world.course.title}</a> only" in mine
    other = client.get(reverse("review_identity_checks"), {"course": world.other_course.pk}).content.decode()
    assert "Barack Obama" not in other
    assert client.get(reverse("review_identity_checks"), {"course": "x"}).status_code == 404


def test_the_queue_of_a_course_is_refused_to_staff_of_another_course(world: World, requested: IdentityCheck) -> None:
    response = client_as(world, "other_instructor").get(reverse("review_identity_checks"), {"course": world.course.pk})
    assert response.status_code == 403


def test_a_decision_made_from_a_courses_queue_returns_to_it(world: World, requested: IdentityCheck) -> None:
    response = client_as(world, "instructor").post(
        reverse("review_identity_check_decide", args=[requested.pk]),
        {"decision": "reject", "reason": "Another person's card.", "course": world.course.pk},
    )
    assert response["Location"] == f"{reverse('review_identity_checks')}?course={world.course.pk}"
    requested.refresh_from_db()
    assert (requested.decision, requested.decision_reason) == ("rejected", "Another person's card.")
