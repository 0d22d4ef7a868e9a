"""The answers-and-marks endpoints against every role, the outsider, the instructor of another course and
the anonymous visitor included. Allowed roles get the endpoint's answer, other signed-in users 403,
anonymous visitors the sign-in page; a refused request changes nothing and leaves only the refusal in
the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import resolve, reverse

from exams.models import Mark
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, client_as, refusals_expected
from tests.exams.marked_exam import MarkedExam, exam_with_every_kind, submitted

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World, MarkedExam], str]
    answer: int
    #: Who gets the answer: the course's staff see answers and marks; admins see them but do not mark.
    allowed: frozenset[str]
    data: dict[str, str] | None = None


ENDPOINTS: dict[str, Endpoint] = {
    "answers and marks": Endpoint(
        "get",
        lambda w, e: reverse("session_marks", args=[w.session.pk]),
        200,
        frozenset({"instructor", "reviewer", "admin"}),
    ),
    "mark a short answer": Endpoint(
        "post",
        lambda w, e: reverse("session_answer_mark", args=[w.session.pk, e.short.pk]),
        302,
        frozenset({"instructor", "reviewer"}),
        {"points": "3", "comment": "Fair."},
    ),
}


@pytest.fixture
def marked(world: World) -> MarkedExam:
    exam = exam_with_every_kind(world)
    submitted(world, exam, single=exam.right, text="Because of gravity.")
    return exam


def _state() -> list[tuple[object, ...]]:
    return sorted(Mark.objects.values_list("question_id", "points", "automatic", "marked_by_id", "comment"))


def test_the_matrix_covers_every_marks_url(world: World, marked: MarkedExam) -> None:
    covered = {resolve(endpoint.url(world, marked)).url_name for endpoint in ENDPOINTS.values()}
    assert covered == {"session_marks", "session_answer_mark"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_marks_endpoint_answers_each_role_as_the_matrix_says(
    world: World, marked: MarkedExam, role: str, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = _state()
    client = client_as(world, role)
    events_before = AuditEvent.objects.count()
    response = getattr(client, endpoint.method)(endpoint.url(world, marked), endpoint.data or {})
    if role in endpoint.allowed:
        assert response.status_code == endpoint.answer, response.content[:300]
        assert AuditEvent.objects.filter(actor_id=world.users[role].pk).exists()
        if endpoint.method == "post":
            assert _state() != before
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert _state() == before
    assert audit_added_since(events_before) == refusals_expected(role)
