"""The admin's front page says when the daily retention purge is not running: never scheduled (beat
not started), switched off in the admin, or not run for two days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from proctor.moments import moment_text
from tests.conftest import World, client_as

INDEX = reverse("admin:index")


def scheduled(**fields: object) -> PeriodicTask:
    crontab = CrontabSchedule.objects.create(minute="30", hour="2")
    return PeriodicTask.objects.create(name="purge-expired-data", task="privacy.purge_due", crontab=crontab, **fields)


def front_page(world: World) -> str:
    response = client_as(world, "admin").get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def test_a_purge_that_runs_daily_raises_no_warning(world: World) -> None:
    scheduled(enabled=True, last_run_at=timezone.now() - timedelta(hours=20))
    assert "retention purge" not in front_page(world)


def test_a_purge_switched_off_in_the_admin_is_named_on_the_front_page(world: World) -> None:
    scheduled(enabled=False, last_run_at=timezone.now() - timedelta(hours=20))
    page = front_page(world)
    assert "The daily retention purge is switched off" in page
    assert 'role="alert"' in page


def test_a_purge_that_has_not_run_for_two_days_is_named_with_its_last_run(world: World) -> None:
    last = timezone.now() - timedelta(days=3)
    scheduled(enabled=True, last_run_at=last)
    assert f"The daily retention purge last ran on {moment_text(last)}" in front_page(world)


def test_before_beat_first_starts_the_page_says_the_purge_is_not_scheduled(world: World) -> None:
    assert "The daily retention purge is not scheduled yet" in front_page(world)


@pytest.mark.parametrize("role", ["student", "instructor", "outsider"])
def test_only_admins_see_the_front_page(world: World, role: str) -> None:
    response = client_as(world, role).get(INDEX)
    assert response.status_code == 302
