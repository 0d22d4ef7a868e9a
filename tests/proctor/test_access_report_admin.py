"""Admin pages are audited reads, and the admin's access report answers breach questions."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.audited_admin import AuditedReadsMixin
from proctor.models import AuditEvent, AuditSubject, Outcome
from tests.conftest import ROLES, World, client_as

ACCESS = "admin:proctor_auditevent_access"


def test_every_admin_page_is_an_audited_read() -> None:
    unaudited = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedReadsMixin)
    ]
    assert unaudited == []


def test_opening_a_session_in_the_admin_names_its_student(world: World) -> None:
    client = client_as(world, "admin")
    url = reverse("admin:exams_examsession_change", args=[world.session.pk])
    assert client.get(url).status_code == 200
    entry = AuditEvent.objects.get(action="admin.view")
    assert entry.role == "admin"
    assert list(AuditSubject.objects.filter(seq=entry.seq).values_list("subject_id", flat=True)) == [
        world.users["student"].pk
    ]


def test_a_list_in_the_admin_names_everyone_on_the_page(world: World) -> None:
    client = client_as(world, "admin")
    assert client.get(reverse("admin:exams_examsession_changelist")).status_code == 200
    entry = AuditEvent.objects.get(action="admin.list")
    assert entry.detail["model"] == "exams.examsession"
    named = set(AuditSubject.objects.filter(seq=entry.seq).values_list("subject_id", flat=True))
    assert named == {world.users["student"].pk, world.users["other_student"].pk}


@pytest.mark.parametrize("role", ROLES)
def test_only_administrators_read_the_access_report(world: World, role: str) -> None:
    client = client_as(world, role)
    response = client.get(reverse(ACCESS), {"person": "student"})
    if role == "admin":
        assert response.status_code == 200
        return
    assert response.status_code in (302, 403)  # the admin site sends non-staff to its sign-in page
    assert not AuditEvent.objects.filter(action="audit.access_report").exists()


def test_the_report_shows_who_touched_a_students_data_with_role_purpose_and_outcome(world: World) -> None:
    audit_record(
        actor=world.users["reviewer"], action=AuditAction.RECORDING_PLAY, target=world.session, purpose="flag #9"
    )
    audit_record(
        actor=world.users["outsider"], action=AuditAction.ACCESS_REFUSED, target=world.session, outcome=Outcome.REFUSED
    )
    audit_record(actor=world.users["reviewer"], action=AuditAction.RECORDING_PLAY, target=world.other_session)
    response = client_as(world, "admin").get(reverse(ACCESS), {"person": "student"})
    body = response.content.decode()
    assert "flag #9" in body
    assert "access.refused" in body
    assert "refused" in body
    assert str(world.other_session.pk) not in body
    inquiry = AuditEvent.objects.get(action="audit.access_report")
    assert (inquiry.role, inquiry.actor_id) == ("admin", world.users["admin"].pk)
    csv = client_as(world, "admin").get(reverse(ACCESS), {"person": "student", "csv": "1"})
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0] == "seq,at,actor,role,action,target,purpose,outcome,ip,people"
    assert any(",flag #9,done," in line for line in lines)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"person": "nobody-like-this"}, "No user is called"),
        ({"since": "last week"}, "is not a date"),
        ({"since": "2026-05-02", "until": "2026-04-01"}, "end after it starts"),
    ],
)
def test_a_bad_question_gets_a_clear_error_and_logs_no_inquiry(
    world: World, query: dict[str, str], message: str
) -> None:
    response = client_as(world, "admin").get(reverse(ACCESS), query)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not AuditEvent.objects.filter(action="audit.access_report").exists()


def test_the_empty_form_asks_the_question(world: World) -> None:
    response = client_as(world, "admin").get(reverse(ACCESS))
    assert response.status_code == 200
    assert "Show who accessed it" in response.content.decode()
    assert not AuditEvent.objects.filter(action="audit.access_report").exists()


def test_a_staff_account_that_is_not_an_administrator_is_refused_and_logged(world: World) -> None:
    from django.test import Client

    from tests.factories import UserFactory

    clerk = UserFactory(is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get(reverse(ACCESS), {"person": "student"}).status_code == 403
    refused = AuditEvent.objects.get(action="access.refused")
    assert (refused.actor_id, refused.outcome) == (clerk.pk, "refused")
    assert not AuditEvent.objects.filter(action="audit.access_report").exists()


def test_the_audit_logs_target_filter_names_events_without_a_target_and_selects_them(world: World) -> None:
    audit_record(actor=world.users["student"], action=AuditAction.LOGIN)  # no target
    audit_record(actor=world.users["student"], action=AuditAction.SESSION_OPEN, target=world.session)
    client = client_as(world, "admin")
    url = reverse("admin:proctor_auditevent_changelist")
    page = client.get(url).content.decode()
    assert '<a href="?target_type=">(no target)</a>' in page
    assert '<a href="?target_type=exams.examsession">exams.examsession</a>' in page
    chosen = client.get(url, {"target_type": ""})
    actions = {event.action for event in chosen.context["cl"].result_list}
    assert "auth.login" in actions
    assert "session.open" not in actions  # the one event with a target
