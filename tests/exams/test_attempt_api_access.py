"""Who may call the exam page's endpoints: the session's own student only, against every role.

For the student, each answer is the endpoint's real reply for a session that has not been consented
to yet (so most refuse the step with 409 or 400); for everyone else the answer is 403, and nothing
changes.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from exams.models import Answer, ExamSession
from identity.models import IdentityCheck
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, refusals_expected

ENDPOINTS: dict[str, tuple[str, dict[str, object], int]] = {
    # name: (url name, JSON body, the student's own answer)
    "system check": (
        "api_session_check",
        {"camera": "ok", "microphone": "ok", "screen": "monitor", "upload_kbit": 1},
        409,
    ),
    "upload probe": ("api_session_probe", {}, 200),
    "begin": ("api_session_begin", {}, 409),
    "answer": ("api_session_answer", {"question": 1, "text": "x"}, 409),
    "submit": ("api_session_submit", {}, 409),
    # Nothing is recorded before the attempt starts: no token to stream with yet.
    "stream token": ("api_stream_token", {}, 409),
    "finalise": ("api_recordings_finalise", {}, 409),
}


def call(client: Client, name: str, session_id: str, body: dict[str, object]) -> object:
    url = reverse(name, args=[session_id])
    if name == "api_session_probe":  # the upload-speed probe takes raw bytes
        return client.post(url, b"\x00" * 1024, content_type="application/octet-stream")
    return client.post(url, body, content_type="application/json")


def as_role(client: Client, world: World, role: str) -> Client:
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_only_the_sessions_student_reaches_each_endpoint(
    world: World, client: Client, role: str, endpoint: str
) -> None:
    name, body, students_answer = ENDPOINTS[endpoint]
    as_role(client, world, role)
    audit_before = AuditEvent.objects.count()  # after signing in, which is audited itself
    response = call(client, name, str(world.session.pk), body)
    if role == "student":
        assert response.status_code == students_answer
        return
    assert response.status_code == 403
    world.session.refresh_from_db()
    assert world.session.status == "created"
    assert Answer.objects.count() == 0
    assert audit_added_since(audit_before) == refusals_expected(role)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_sessions_student_reaches_the_exam_page(world: World, client: Client, role: str) -> None:
    response = as_role(client, world, role).get(reverse("session_exam", args=[world.session.pk]))
    if role == "student":  # not consented yet: sent to the consent page first
        assert response.status_code == 302
        assert response["Location"] == reverse("session_consent", args=[world.session.pk])
    elif role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403


def test_the_student_of_a_consented_session_gets_the_exam_page(world: World, client: Client) -> None:
    from exams.services import session_consent

    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    response = as_role(client, world, "student").get(reverse("session_exam", args=[world.session.pk]))
    assert response.status_code == 200
    assert "System check" in response.content.decode()


def test_an_unknown_session_is_a_404_for_every_endpoint(world: World, client: Client) -> None:
    as_role(client, world, "student")
    for name, body, _ in ENDPOINTS.values():
        assert call(client, name, "00000000-0000-0000-0000-000000000000", body).status_code == 404
    assert not ExamSession.objects.filter(pk="00000000-0000-0000-0000-000000000000").exists()
    assert IdentityCheck.objects.count() == 0
