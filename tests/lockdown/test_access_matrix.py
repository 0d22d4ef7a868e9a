"""Every lockdown endpoint against every role, the outsider, the instructor of another course and the
anonymous visitor included. Allowed roles get the endpoint's answer; other signed-in users 403, with
the refusal in the audit log and nothing changed; anonymous visitors are sent to sign in (the API
answers them 403)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import resolve, reverse

from lockdown.config_key import request_hash
from lockdown.models import SafeExamBrowserRequirement
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, client_as, refusals_expected
from tests.lockdown.conftest import BEK, MAC_KEY, absolute


def _javascript_keys(world: World) -> dict[str, Any]:
    page = absolute(reverse("session_exam", args=[world.session.pk]))
    return {"url": page, "config_key": request_hash(page, MAC_KEY), "browser_exam_key": ""}


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World], str]
    answer: int
    allowed: frozenset[str]
    data: Callable[[World], dict[str, Any]] | None = None
    json: bool = False


STAFF = frozenset({"instructor", "admin"})
ENDPOINTS: dict[str, Endpoint] = {
    "settings page": Endpoint("get", lambda w: reverse("lockdown_settings", args=[w.exam.pk]), 200, STAFF),
    "save settings": Endpoint(
        "post",
        lambda w: reverse("lockdown_settings", args=[w.exam.pk]),
        302,
        STAFF,
        lambda w: {"required": "on", "browser_exam_keys": BEK},
    ),
    "download the .seb file": Endpoint(
        "get",
        lambda w: reverse("lockdown_config_download", args=[w.exam.pk]),
        200,
        frozenset({"student", "other_student", "instructor", "reviewer", "admin"}),
    ),
    "JavaScript API keys": Endpoint(
        "post",
        lambda w: reverse("lockdown_javascript_verify", args=[w.session.pk]),
        200,
        frozenset({"student"}),
        _javascript_keys,
        json=True,
    ),
}


def _state(world: World) -> Any:
    return list(SafeExamBrowserRequirement.objects.values_list("required", "config_key", "browser_exam_keys"))


def test_the_matrix_covers_every_lockdown_url(seb_world: World) -> None:
    covered = {resolve(endpoint.url(seb_world)).url_name for endpoint in ENDPOINTS.values()}
    assert covered == {"lockdown_settings", "lockdown_config_download", "lockdown_javascript_verify"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_lockdown_endpoint_answers_each_role_as_the_matrix_says(seb_world: World, role: str, name: str) -> None:
    world = seb_world
    endpoint = ENDPOINTS[name]
    client = client_as(world, role)
    before, events = _state(world), AuditEvent.objects.count()
    data = endpoint.data(world) if endpoint.data else {}
    if endpoint.json:
        response = client.post(endpoint.url(world), json.dumps(data), content_type="application/json")
    else:
        response = getattr(client, endpoint.method)(endpoint.url(world), data)
    if role in endpoint.allowed:
        assert response.status_code == endpoint.answer, response.content[:300]
        if name == "save settings":
            assert _state(world) != before
        return
    if role == "anonymous" and not endpoint.json:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert _state(world) == before
    assert audit_added_since(events) == refusals_expected(role)
