"""Every class-list and accommodation endpoint against every role, the outsider, the instructor of
another course and the anonymous visitor included. Allowed roles get the endpoint's answer, other
signed-in users 403, anonymous visitors the sign-in page; a refused request changes nothing and leaves
only the refusal in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve, reverse

from exams.models import Accommodation, CourseMembership
from exams.roster import accommodation_set
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, client_as, refusals_expected
from tests.factories import UserFactory

INSTRUCTORS = frozenset({"instructor", "admin"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World], str]
    answer: int
    data: Callable[[], dict[str, object]] | None = None


def _student(w: World) -> int:
    return int(w.users["student"].pk)


ENDPOINTS: dict[str, Endpoint] = {
    "class list": Endpoint("get", lambda w: reverse("course_roster", args=[w.course.pk]), 200),
    "add a student": Endpoint(
        "post", lambda w: reverse("course_roster_add", args=[w.course.pk]), 302, lambda: {"identifier": "newcomer"}
    ),
    "import": Endpoint(
        "post",
        lambda w: reverse("course_roster_import", args=[w.course.pk]),
        302,
        lambda: {"file": SimpleUploadedFile("list.csv", b"newcomer\n")},
    ),
    "remove a student": Endpoint(
        "post", lambda w: reverse("course_roster_remove", args=[w.course.pk, w.users["other_student"].pk]), 302
    ),
    "appoint a reviewer": Endpoint(
        "post",
        lambda w: reverse("course_reviewer_appoint", args=[w.course.pk]),
        302,
        lambda: {"identifier": "newcomer"},
    ),
    "remove a reviewer": Endpoint(
        "post", lambda w: reverse("course_reviewer_remove", args=[w.course.pk, w.users["reviewer"].pk]), 302
    ),
    "accommodations": Endpoint("get", lambda w: reverse("exam_accommodations", args=[w.exam.pk]), 200),
    "accommodation picker": Endpoint(
        "get", lambda w: f"{reverse('exam_accommodation_pick', args=[w.exam.pk])}?student={_student(w)}", 302
    ),
    "accommodation form": Endpoint(
        "get", lambda w: reverse("exam_accommodation_edit", args=[w.exam.pk, _student(w)]), 200
    ),
    "save an accommodation": Endpoint(
        "post",
        lambda w: reverse("exam_accommodation_edit", args=[w.exam.pk, _student(w)]),
        302,
        lambda: {"extra_minutes": "20", "breaks_allowed": "0", "break_minutes": "0"},
    ),
    "remove an accommodation": Endpoint(
        "post", lambda w: reverse("exam_accommodation_remove", args=[w.exam.pk, _student(w)]), 302
    ),
}


@pytest.fixture
def roster_world(world: World) -> World:
    UserFactory(username="newcomer")
    accommodation_set(
        exam_id=world.exam.pk, student_id=_student(world), values={"extra_minutes": 10}, actor=world.users["admin"]
    )
    return world


def _state(world: World) -> tuple[object, ...]:
    return (
        sorted(CourseMembership.objects.values_list("course_id", "user_id", "role")),
        sorted(Accommodation.objects.values_list("student_id", "extra_minutes")),
    )


def test_the_matrix_covers_every_class_list_url(roster_world: World) -> None:
    covered = {resolve(endpoint.url(roster_world).split("?")[0]).url_name for endpoint in ENDPOINTS.values()}
    assert covered == {
        "course_roster",
        "course_roster_add",
        "course_roster_import",
        "course_roster_remove",
        "course_reviewer_appoint",
        "course_reviewer_remove",
        "exam_accommodations",
        "exam_accommodation_pick",
        "exam_accommodation_edit",
        "exam_accommodation_remove",
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_class_list_endpoint_answers_each_role_as_the_matrix_says(
    roster_world: World, role: str, name: str
) -> None:
    world = roster_world
    endpoint = ENDPOINTS[name]
    before = _state(world)
    client = client_as(world, role)
    events_before = AuditEvent.objects.count()
    response = getattr(client, endpoint.method)(endpoint.url(world), endpoint.data() if endpoint.data else {})
    if role in INSTRUCTORS:
        assert response.status_code == endpoint.answer, response.content[:300]
        if endpoint.method == "post":  # the write happened, and was logged as this person's
            assert _state(world) != before
            assert AuditEvent.objects.filter(actor_id=world.users[role].pk).exists()
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert _state(world) == before
    assert audit_added_since(events_before) == refusals_expected(role)
