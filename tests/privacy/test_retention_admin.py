"""Admins set each institution's retention periods in the admin: every change is audited with the
fields it changed, nonsense is refused with an error and changes nothing, and the daily purge that
applies the periods is on the beat schedule, where an admin can see it."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exams.models import Institution
from proctor.audit import audit_verify
from proctor.models import AuditEvent
from tests.conftest import World, client_as

PERIODS = ("recording_retention_days", "profile_retention_days")


def change_url(institution: Institution) -> str:
    return reverse("admin:exams_institution_change", args=[institution.pk])


def form_as_shown(client: Client, url: str) -> dict[str, Any]:
    """The change form's fields with the values it shows, as the admin's browser would send them back."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    return {name: "" if form[name].value() is None else form[name].value() for name in form.fields}


def test_an_admin_changes_both_periods_and_the_audit_log_says_which_fields_changed(world: World) -> None:
    institution = world.course.institution
    client = client_as(world, "admin", address="192.0.2.7")
    url = change_url(institution)
    data = form_as_shown(client, url) | {"recording_retention_days": "30", "profile_retention_days": "90"}

    response = client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    institution.refresh_from_db()
    assert (institution.recording_retention_days, institution.profile_retention_days) == (30, 90)
    event = AuditEvent.objects.get(action="admin.change")
    assert (event.target_type, event.target_id) == ("exams.institution", str(institution.pk))
    assert (event.actor_id, event.actor_label, event.ip) == (world.users["admin"].pk, "admin", "192.0.2.7")
    assert event.detail == {
        "fields": sorted(PERIODS),
        "values": {
            "recording_retention_days": {"from": 180, "to": 30},
            "profile_retention_days": {"from": 365, "to": 90},
        },
    }
    assert audit_verify().ok


def test_saving_the_form_unchanged_records_that_nothing_changed(world: World) -> None:
    institution = world.course.institution
    client = client_as(world, "admin")
    url = change_url(institution)
    assert client.post(url, form_as_shown(client, url)).status_code == 302
    assert AuditEvent.objects.get(action="admin.change").detail == {"fields": []}
    institution.refresh_from_db()
    assert (institution.recording_retention_days, institution.profile_retention_days) == (180, 365)


@pytest.mark.parametrize("field", PERIODS)
@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-30", "Ensure this value is greater than or equal to 1."),
        ("3651", "Ensure this value is less than or equal to 3650."),
        ("", "This field is required."),
        ("half a year", "Enter a whole number."),
    ],
)
def test_a_period_that_is_not_a_positive_number_of_days_is_refused_and_changes_nothing(
    world: World, field: str, value: str, error: str
) -> None:
    institution = world.course.institution
    client = client_as(world, "admin")
    url = change_url(institution)
    other = next(name for name in PERIODS if name != field)
    data = form_as_shown(client, url) | {field: value, other: "30"}
    before = AuditEvent.objects.count()  # after the page was read, which is audited itself

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [error]}
    assert error in response.content.decode()
    assert "Please correct the error below." in response.content.decode()
    institution.refresh_from_db()
    assert (institution.recording_retention_days, institution.profile_retention_days) == (180, 365)
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("role", ["student", "instructor", "reviewer", "outsider", "anonymous"])
def test_only_admins_reach_the_institution_form(world: World, role: str) -> None:
    institution = world.course.institution
    client = client_as(world, role)
    url = change_url(institution)
    assert client.get(url).status_code == 302  # to the admin's sign-in
    assert (
        client.post(url, {"name": "Mine", "recording_retention_days": "1", "profile_retention_days": "1"}).status_code
        == 302
    )
    institution.refresh_from_db()
    assert (institution.recording_retention_days, institution.profile_retention_days) == (180, 365)
    assert not AuditEvent.objects.filter(action="admin.change").exists()


# The beat scheduler commits and checks its database connection as the beat process does, which a
# test inside a transaction would not survive.
@pytest.mark.django_db(transaction=True)
def test_when_beat_starts_the_daily_purge_is_scheduled_in_the_database_and_shown_in_the_admin(world: World) -> None:
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from privacy.tasks import purge_due_task
    from proctor.celery import app

    assert not PeriodicTask.objects.filter(name="purge-expired-data").exists()  # only beat puts it there
    configured: Any = settings.CELERY_BEAT_SCHEDULE["purge-expired-data"]

    # Beat holds in memory only the crontab entries due within the hour, so start it just before 02:30 UTC.
    before = timezone.now().astimezone(UTC).replace(hour=2, minute=29, second=30, microsecond=0)
    with time_machine.travel(before, tick=False):
        scheduler = DatabaseScheduler(app=app, lazy=False)
        DatabaseScheduler(app=app, lazy=False)  # and again, as after a restart: the entry is updated, not refused
        entry = scheduler.schedule["purge-expired-data"]
        assert not entry.is_due().is_due
        assert entry.is_due().next == pytest.approx(30, abs=1)
    with time_machine.travel(before + timedelta(seconds=35), tick=False):
        assert entry.is_due().is_due
    assert (entry.schedule.minute, entry.schedule.hour) == (configured["schedule"].minute, configured["schedule"].hour)

    task = PeriodicTask.objects.select_related("crontab").get(name="purge-expired-data")
    assert (task.task, task.enabled, task.interval_id) == (purge_due_task.name, True, None)
    assert task.crontab is not None
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        "30",
        "2",
        "*",
        "*",
        "*",
    )
    assert str(cron.timezone) == settings.CELERY_TIMEZONE
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))

    admin = client_as(world, "admin")
    listing = admin.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "purge-expired-data" in page
    assert "30 2 * * * (m/h/dM/MY/d) UTC" in page
    detail = admin.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    assert purge_due_task.name in detail.content.decode()
    for role in ("instructor", "outsider"):
        assert (
            client_as(world, role).get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 302
        )
