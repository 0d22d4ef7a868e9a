"""Signing in and out, resetting a password, and the lockout after repeated failures."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


@pytest.fixture
def person(db: None) -> object:
    return UserFactory(username="ana", email="ana@example.invalid")


def login(client: Client, password: str, username: str = "ana", ip: str = "198.51.100.1") -> object:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_person_signs_in_and_lands_on_their_dashboard(client: Client, person: object) -> None:
    response = login(client, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert "Welcome" in client.get(reverse("home")).content.decode()


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(client: Client, person: object) -> None:
    response = login(client, "wrong-password")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_signing_out_takes_a_post_and_ends_the_session(client: Client, person: object) -> None:
    login(client, PASSWORD)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_five_failures_lock_the_account_even_for_the_right_password(client: Client, person: object) -> None:
    for _ in range(5):
        login(client, "wrong-password")
    response = login(client, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_the_lockout_is_per_username_and_address(client: Client, person: object) -> None:
    for _ in range(5):
        login(client, "wrong-password", ip="198.51.100.1")
    assert login(client, PASSWORD, ip="198.51.100.2").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client: Client, person: object) -> None:
    for _ in range(4):
        login(client, "wrong-password")
    assert login(client, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        login(client, "wrong-password")
    assert login(client, PASSWORD).status_code == 302


def test_a_password_reset_link_arrives_by_mail_and_sets_a_new_password(client: Client, person: object) -> None:
    response = client.post(reverse("password_reset"), {"email": "ana@example.invalid"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-much-better-passphrase", "new_password2": "a-much-better-passphrase"},
    )
    assert done.status_code == 302
    assert login(client, "a-much-better-passphrase").status_code == 302


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client: Client, person: object) -> None:
    response = client.post(reverse("password_reset"), {"email": "nobody@example.invalid"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_a_used_or_forged_reset_link_is_refused_clearly(client: Client, person: object) -> None:
    response = client.get("/accounts/reset/MQ/forged-token/", follow=True)
    assert response.status_code == 200
    assert "not valid" in response.content.decode()


def test_signing_in_and_out_is_written_to_the_audit_log(client: Client, person: object) -> None:
    from proctor.audit import audit_verify
    from proctor.models import AuditEvent

    login(client, "wrong-password")
    login(client, PASSWORD)
    client.post(reverse("logout"))
    events = list(AuditEvent.objects.values_list("action", "actor_label", "ip", "detail"))
    assert events == [
        ("auth.login_failed", "", "198.51.100.1", {"username": "ana"}),
        ("auth.login", "ana", "198.51.100.1", {}),
        ("auth.logout", "ana", "127.0.0.1", {}),
    ]
    assert "wrong-password" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert audit_verify().ok
