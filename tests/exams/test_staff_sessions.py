"""Staff sign-ins end after 30 idle minutes and after 12 hours in all; students' do not; the session
id changes at sign-in; production cookies carry the __Host- prefix."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import World
from tests.proctor.test_settings import ROOT, production_env

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unguessable pass phrase"


def signed_in(world: World, role: str) -> Client:
    user = world.users[role]
    user.set_password(PASSWORD)
    user.save()
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


@pytest.mark.parametrize("role", ["instructor", "reviewer", "admin"])
def test_a_staff_sign_in_ends_after_thirty_idle_minutes(world: World, role: str) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = signed_in(world, role)
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert client.get(reverse("home")).status_code == 200  # active again: the clock restarts
    with time_machine.travel(start + timedelta(minutes=29 + 31), tick=False):
        response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login"))
    assert "signed out after 30 minutes without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_staff_sign_in_ends_after_twelve_hours_however_active(world: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = signed_in(world, "reviewer")
        client.get(reverse("home"))
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("home")).status_code == 200, minutes
    with time_machine.travel(start + timedelta(hours=12, minutes=5), tick=False):
        response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_api_call_after_the_limit_gets_401_with_the_reason(world: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = signed_in(world, "instructor")
        client.get(reverse("home"))
    with time_machine.travel(start + timedelta(minutes=45), tick=False):
        response = client.get(reverse("api_identity_status"))
    assert response.status_code == 401
    assert "without activity" in response.json()["detail"]


def test_a_student_is_not_signed_out_for_being_idle_in_a_long_exam(world: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = signed_in(world, "student")
        client.get(reverse("home"))
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        assert client.get(reverse("home")).status_code == 200


def test_the_session_id_changes_at_sign_in(world: World) -> None:
    client = Client()
    client.get(reverse("login"))
    session = client.session
    session["before"] = "anonymous"
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before

    user = world.users["student"]
    user.set_password(PASSWORD)
    user.save()
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    assert client.cookies["sessionid"].value != before
    assert client.session.get("_auth_user_id") == str(user.pk)


def test_production_cookies_carry_the_host_prefix(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_PATH, s.CSRF_COOKIE_PATH, s.SESSION_COOKIE_DOMAIN, s.CSRF_COOKIE_DOMAIN)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "__Host-invigil-session",
        "__Host-invigil-csrftoken",
        "True",
        "True",
        "/",
        "/",
        "None",
        "None",
    ]
