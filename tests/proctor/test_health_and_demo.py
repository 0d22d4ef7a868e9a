"""The health check, the demo data, and the admin as an audited way to edit everything."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.db import connections
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from exams.models import Course, CourseMembership, Exam, Institution, Question, Role
from identity.models import User
from proctor.audit import audit_verify
from proctor.models import AuditEvent
from proctor.views import healthz


@pytest.fixture
def demo_admin(db: None, client: Client) -> Client:
    """The demo data loaded, and a client signed in as its admin."""
    call_command("seed_demo", stdout=io.StringIO())
    client.force_login(User.objects.get(username="admin"))
    return client


def test_the_health_check_answers_ok_when_the_database_redis_and_the_broker_do(db: None, client: Client) -> None:
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "redis": True, "broker": True}}
    assert "no-cache" in response["Cache-Control"]


def closed_port() -> int:
    """A local TCP port nothing listens on: a stopped server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health() -> tuple[int, dict[str, bool]]:
    response = healthz(RequestFactory().get("/healthz/"))
    return response.status_code, json.loads(response.content)["checks"]


def test_the_health_check_answers_503_when_the_database_is_down(db: None) -> None:
    original = connections["default"]
    down = dict(original.settings_dict)
    if original.vendor == "sqlite":
        down["NAME"] = str(Path(settings.DATA_DIR) / "no-such-folder" / "db.sqlite3")
    else:
        down.update(HOST="127.0.0.1", PORT=str(closed_port()))
    stopped = type(original)(down, alias="default")
    connections["default"] = stopped
    try:
        status, checks = health()
    finally:
        stopped.close()
        connections["default"] = original
    assert status == 503
    assert checks["database"] is False
    assert checks["broker"] is True


def test_the_health_check_answers_503_when_redis_and_its_broker_are_down(db: None) -> None:
    stopped = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(REDIS_URL=stopped, CELERY_BROKER_URL=stopped, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        assert health() == (503, {"database": True, "redis": False, "broker": False})


def test_the_health_check_answers_503_when_a_server_broker_alone_is_down(db: None) -> None:
    stopped = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(CELERY_BROKER_URL=stopped, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        assert health() == (503, {"database": True, "redis": True, "broker": False})


def test_the_health_check_answers_503_when_the_embedded_file_broker_has_lost_its_folders(
    db: None, tmp_path: Path
) -> None:
    folders = {"data_folder_in": tmp_path / "in", "data_folder_out": tmp_path / "in", "control_folder": tmp_path / "c"}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    options = {name: str(folder) for name, folder in folders.items()}
    with override_settings(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_TRANSPORT_OPTIONS=options):
        assert health()[0] == 200
        (tmp_path / "in").rmdir()
        assert health() == (503, {"database": True, "redis": True, "broker": False})


@pytest.mark.django_db
def test_demo_data_has_the_cast_a_trial_needs_and_loads_only_once() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert "Demo data already present." in out.getvalue()
    assert Institution.objects.count() == 1
    course = Course.objects.get()
    roles = sorted(CourseMembership.objects.filter(course=course).values_list("role", flat=True))
    assert roles == [Role.INSTRUCTOR, Role.REVIEWER, Role.STUDENT, Role.STUDENT, Role.STUDENT]
    assert User.objects.get(username="admin").is_superuser
    assert Question.objects.filter(exam__in=Exam.objects.all()).count() >= 3
    assert User.objects.get(username="student1").check_password("invigil-demo")


@pytest.mark.parametrize(
    "model", [m for m in apps.get_models() if m in admin.site._registry], ids=lambda m: m._meta.label
)
def test_the_admin_lists_every_registered_model(demo_admin: Client, model: type) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert demo_admin.get(url).status_code == 200


@pytest.mark.parametrize("model", [Institution, Course, Exam, CourseMembership, User], ids=lambda m: m._meta.label)
def test_the_admin_add_forms_open(demo_admin: Client, model: type) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    assert demo_admin.get(url).status_code == 200


def test_an_admin_change_is_written_to_the_audit_log(demo_admin: Client) -> None:
    institution = Institution.objects.get()
    url = reverse("admin:exams_institution_change", args=[institution.pk])
    response = demo_admin.post(
        url,
        {
            "name": "Demo University",
            "recording_retention_days": 90,
            "profile_retention_days": 365,
            "appeal_window_days": 30,
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="admin.change").latest("seq")
    assert event.target_id == str(institution.pk)
    assert event.detail == {
        "fields": ["recording_retention_days"],
        "values": {"recording_retention_days": {"from": 180, "to": 90}},
    }
    assert audit_verify().ok


def test_bad_admin_input_gets_an_error_and_changes_nothing(demo_admin: Client) -> None:
    institution = Institution.objects.get()
    before = AuditEvent.objects.count()
    response = demo_admin.post(
        reverse("admin:exams_institution_change", args=[institution.pk]),
        {"name": "Demo University", "recording_retention_days": 0, "profile_retention_days": 365},
    )
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    institution.refresh_from_db()
    assert institution.recording_retention_days == 180
    assert AuditEvent.objects.count() == before


def test_the_admin_cannot_edit_the_audit_log_or_a_session_status(demo_admin: Client) -> None:
    event = AuditEvent.objects.first()
    assert event is not None
    assert demo_admin.get(reverse("admin:proctor_auditevent_add")).status_code == 403
    assert (
        demo_admin.post(reverse("admin:proctor_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_changes_to_the_beat_schedule_are_audited_too(demo_admin: Client) -> None:
    from django_celery_beat.models import IntervalSchedule

    response = demo_admin.post(
        reverse("admin:django_celery_beat_intervalschedule_add"),
        {"every": 10, "period": "minutes", "periodictask_set-TOTAL_FORMS": 0, "periodictask_set-INITIAL_FORMS": 0},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="admin.add").latest("seq")
    assert event.target_type == "django_celery_beat.intervalschedule"
    assert event.target_id == str(IntervalSchedule.objects.get(every=10).pk)
