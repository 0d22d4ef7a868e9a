"""The lobby, consent and decline pages: who may see them, what they say, what they do."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from exams.models import AlternativeRequest, ConsentRecord, ExamSession, SessionStatus
from exams.notice import notice_for_exam
from tests.conftest import ROLES, World
from tests.factories import ConsentPolicyFactory, UserFactory, enrol


def signed_in(client: Client, world: World, role: str) -> Client:
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


@pytest.mark.parametrize("role", ROLES)
def test_only_students_of_the_course_reach_the_lobby(world: World, client: Client, role: str) -> None:
    response = signed_in(client, world, role).get(reverse("exam_lobby", args=[world.exam.pk]))
    expected = {"student": 200, "other_student": 200, "anonymous": 302}.get(role, 403)
    assert response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_only_the_sessions_student_reaches_its_consent_page(world: World, client: Client, role: str) -> None:
    response = signed_in(client, world, role).get(reverse("session_consent", args=[world.session.pk]))
    expected = {"student": 200, "anonymous": 302}.get(role, 403)
    assert response.status_code == expected


@pytest.mark.parametrize("role", [r for r in ROLES if r != "student"])
def test_nobody_else_can_consent_or_decline_for_a_student(world: World, client: Client, role: str) -> None:
    client = signed_in(client, world, role)
    policy = world.policy.pk
    client.post(
        reverse("session_consent", args=[world.session.pk]),
        {"policy": policy, "agree": "on", "notice": notice_for_exam(world.exam).sha256},
    )
    client.post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": policy, "notice": notice_for_exam(world.exam).sha256},
    )
    assert ConsentRecord.objects.count() == 0


def test_the_lobby_says_what_is_recorded_how_long_it_is_kept_and_who_sees_it(world: World, client: Client) -> None:
    body = signed_in(client, world, "student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "Your entire screen" in body
    assert "deleted 180 days after the exam" in body
    assert "instructor of PHYS101" in body
    assert "reviewer of PHYS101" in body


def test_opening_the_exam_leads_to_the_full_policy_with_its_version(world: World, client: Client) -> None:
    newcomer = UserFactory(username="newcomer")
    enrol(newcomer, world.course, "student")
    client.force_login(newcomer)
    response = client.post(reverse("exam_open", args=[world.exam.pk]))
    session = ExamSession.objects.get(exam=world.exam, student=newcomer)
    assert response["Location"] == reverse("session_consent", args=[session.pk])
    body = client.get(response["Location"]).content.decode()
    assert f"version {world.policy.version}" in body
    assert world.policy.text in body


def test_consenting_without_ticking_the_box_explains_and_records_nothing(world: World, client: Client) -> None:
    response = signed_in(client, world, "student").post(
        reverse("session_consent", args=[world.session.pk]),
        {"policy": world.policy.pk, "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 200
    assert "Tick the box to agree" in response.content.decode()
    assert ConsentRecord.objects.count() == 0


def test_consenting_records_the_version_and_moves_the_session_on(world: World, client: Client) -> None:
    response = signed_in(client, world, "student").post(
        reverse("session_consent", args=[world.session.pk]),
        {"policy": world.policy.pk, "agree": "on", "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 302
    world.session.refresh_from_db()
    assert world.session.status == SessionStatus.CONSENTED
    assert ConsentRecord.objects.get().policy_version == world.policy.version


def test_a_consent_form_for_an_old_version_is_refused_with_a_reason(world: World, client: Client) -> None:
    newer = ConsentPolicyFactory(institution=world.course.institution, version=2, text="Version two's words.")
    response = signed_in(client, world, "student").post(
        reverse("session_consent", args=[world.session.pk]),
        {"policy": world.policy.pk, "agree": "on", "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "changed to version 2. Please read it again" in body
    assert "Version two&#x27;s words." in body
    assert f'name="policy" value="{newer.pk}"' in body  # the form now carries the version shown
    assert ConsentRecord.objects.count() == 0


def test_declining_sends_a_request_to_the_instructor(world: World, client: Client) -> None:
    response = signed_in(client, world, "student").post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": world.policy.pk, "reason": "No private room at home.", "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 200
    assert "Your instructors also see your request" in response.content.decode()
    assert world.exam.alternative_arrangement in response.content.decode()
    assert AlternativeRequest.objects.get().reason == "No private room at home."
    world.session.refresh_from_db()
    assert world.session.status == SessionStatus.DECLINED


def test_a_decline_reason_with_a_control_character_gets_400_and_requests_nothing(world: World, client: Client) -> None:
    response = signed_in(client, world, "student").post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": world.policy.pk, "reason": "No private\x1b room.", "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 400
    assert "U+001B" in response.content.decode()
    assert not AlternativeRequest.objects.exists()
    world.session.refresh_from_db()
    assert world.session.status == SessionStatus.CREATED
