"""Invigil's signing keys: published without their private half, sealed at rest, rotated with a grace
period, and what `sign` makes verifies against the published key set."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from lti.keys import RETIRED_KEY_GRACE, key_set, sign, signing_key, tool_keys_rotate
from lti.models import ToolKey
from proctor.models import AuditEvent, DataKey

pytestmark = pytest.mark.django_db


def _verify(token: str, published: dict[str, Any]) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [key for key in published["keys"] if key["kid"] == kid]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    return jwt.decode(token, public, algorithms=["RS256"], audience="https://lms.example.edu")  # type: ignore[arg-type]


def test_the_key_set_publishes_public_keys_only_with_kid_alg_and_use() -> None:
    response = Client().get("/lti/jwks/")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == signing_key().kid
    assert {"n", "e"} <= set(key)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_what_invigil_signs_verifies_with_its_published_key_and_names_it() -> None:
    token = sign({"iss": "invigil-client", "aud": "https://lms.example.edu", "data": "x"})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert _verify(token, Client().get("/lti/jwks/").json())["data"] == "x"


def test_the_private_key_is_stored_only_sealed_under_a_data_key() -> None:
    key = signing_key()
    stored = bytes(ToolKey.objects.get(pk=key.pk).private_key_sealed)
    assert b"PRIVATE KEY" not in stored
    assert DataKey.objects.get(pk=key.data_key_id).purpose == "lti_tool_key"


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published_for_the_grace_period(
    time_machine: Any,
) -> None:
    time_machine.move_to(timezone.now())
    old_token = sign({"aud": "https://lms.example.edu"})
    old = signing_key()
    new = tool_keys_rotate()
    assert signing_key().kid == new.kid
    assert jwt.get_unverified_header(sign({"aud": "x"}))["kid"] == new.kid
    assert {key["kid"] for key in key_set()["keys"]} == {old.kid, new.kid}
    _verify(old_token, key_set())
    time_machine.move_to(timezone.now() + RETIRED_KEY_GRACE + timedelta(hours=1))
    assert {key["kid"] for key in key_set()["keys"]} == {new.kid}
    newest = tool_keys_rotate()
    assert set(ToolKey.objects.values_list("kid", flat=True)) == {new.kid, newest.kid}
    assert DataKey.objects.get(pk=old.data_key_id).wrapped is None  # crypto-shredded
    assert AuditEvent.objects.filter(action="lti.keys_rotate").count() == 2


def test_the_rotation_command_makes_a_new_signing_key() -> None:
    first = signing_key()
    out = io.StringIO()
    call_command("lti_rotate_keys", stdout=out)
    assert "published at /lti/jwks/" in out.getvalue()
    assert signing_key().kid != first.kid
    assert ToolKey.objects.get(pk=first.pk).retired_at is not None


def test_rotation_and_the_login_state_purge_are_on_the_beat_schedule() -> None:
    from django.conf import settings

    from lti.tasks import purge_login_states, rotate_keys

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {rotate_keys.name, purge_login_states.name} <= tasks
