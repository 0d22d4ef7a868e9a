"""Withdrawing the agreement to face matching from My data: the template goes, a missing tick or no
agreement changes nothing, and only a signed-in student reaches it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from identity.consent import biometric_consent_in_force
from identity.models import IdentityProfile
from identity.services import identity_enrol
from tests.analysis.conftest import jpeg
from tests.conftest import World, agree_to_face_matching, client_as

pytestmark = pytest.mark.django_db

URL = "face_matching_withdraw"


@pytest.fixture
def enrolled(world: World) -> World:
    agree_to_face_matching(world.users["student"])
    identity_enrol(user=world.users["student"], frames=[jpeg("obama.jpg")] * 3)
    return world


def test_the_student_withdraws_and_the_template_is_destroyed(enrolled: World) -> None:
    page = client_as(enrolled, "student").post(reverse(URL), {"confirm": "yes"}, follow=True).content.decode()
    assert "You have withdrawn your agreement to face matching" in page
    assert "You withdrew your agreement to face matching" in page
    assert IdentityProfile.objects.get(user=enrolled.users["student"]).template_sealed is None
    assert not biometric_consent_in_force(user_id=enrolled.users["student"].pk)


def test_without_the_tick_nothing_changes(enrolled: World) -> None:
    page = client_as(enrolled, "student").post(reverse(URL), {}, follow=True).content.decode()
    assert "Tick the box to confirm" in page
    assert IdentityProfile.objects.get(user=enrolled.users["student"]).template_sealed is not None
    assert biometric_consent_in_force(user_id=enrolled.users["student"].pk)


@pytest.mark.parametrize("role", ["other_student", "instructor", "outsider"])
def test_someone_without_an_agreement_is_told_so_and_nothing_changes(enrolled: World, role: str) -> None:
    page = client_as(enrolled, role).post(reverse(URL), {"confirm": "yes"}, follow=True).content.decode()
    assert "You have no agreement to face matching to withdraw" in page
    assert biometric_consent_in_force(user_id=enrolled.users["student"].pk)


def test_the_anonymous_are_sent_to_sign_in(enrolled: World) -> None:
    response = client_as(enrolled, "anonymous").post(reverse(URL), {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert biometric_consent_in_force(user_id=enrolled.users["student"].pk)
