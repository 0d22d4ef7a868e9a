"""The course review dashboard: who may open it, what it shows, in which order, its filters, and a
constant number of queries however many sessions there are."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.models import AnalysisRun, Flag, RunStatus
from exams.models import ExamSession, Role, SessionStatus
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, client_as
from tests.factories import ExamFactory, ExamSessionFactory, UserFactory, enrol

ALLOWED = {"instructor", "reviewer", "admin"}


def analysed(
    session: ExamSession, *, score: float, flags: dict[str, int], status: str = SessionStatus.READY_FOR_REVIEW
) -> None:
    ExamSession.objects.filter(pk=session.pk).update(status=status)
    run = AnalysisRun.objects.create(session=session, status=RunStatus.SUCCEEDED, score=score, sensitivity="standard")
    for kind, count in flags.items():
        for index in range(count):
            Flag.objects.create(
                run=run,
                session=session,
                kind=kind,
                category="technical" if kind == "recording_gap" else "concern",
                start_seconds=index * 10,
                end_seconds=index * 10 + 5,
                severity="low",
                confidence=0.8,
                reason="test",
                detector="test",
                detector_version="1",
            )


def url(world: World, **query: Any) -> str:
    path = reverse("review_dashboard", args=[world.course.pk])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("role", ROLES)
def test_only_the_courses_instructors_reviewers_and_admins_open_the_dashboard(world: World, role: str) -> None:
    response = client_as(world, role).get(url(world))
    if role in ALLOWED:
        assert response.status_code == 200
        assert AuditEvent.objects.filter(action="review.dashboard_view", actor_id=world.users[role].pk).exists()
    elif role == "anonymous":
        assert response.status_code == 302
    else:
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action="review.dashboard_view").exists()


def test_sessions_come_highest_score_first_with_their_flag_counts_by_type(world: World) -> None:
    analysed(world.session, score=2.5, flags={"no_face": 1, "recording_gap": 2})
    analysed(world.other_session, score=40.0, flags={"face_mismatch": 1, "speech": 3})
    unanalysed = ExamSessionFactory(exam=world.exam, student=UserFactory(username="late"))

    response = client_as(world, "reviewer").get(url(world))

    rows = response.context["dashboard"].rows
    assert [row.session.pk for row in rows] == [world.other_session.pk, world.session.pk, unanalysed.pk]
    assert [(f.label, f.count, f.technical) for f in rows[1].flags] == [
        ("No face in view", 1, False),
        ("Recording gap", 2, True),
    ]
    assert rows[0].concerns == 4
    html = response.content.decode()
    assert "Face did not match: 1" in html
    assert "Speech: 3" in html
    assert "3 sessions." in html


def test_filters_by_exam_flag_type_and_review_state(world: World) -> None:
    analysed(world.session, score=2.5, flags={"no_face": 1})
    analysed(world.other_session, score=9.0, flags={"speech": 1}, status=SessionStatus.CLEARED)
    other_exam = ExamFactory(course=world.course, title="Quiz")
    quiz = ExamSessionFactory(exam=other_exam, student=world.users["student"])
    client = client_as(world, "instructor")

    def shown(**query: Any) -> list[Any]:
        return [row.session.pk for row in client.get(url(world, **query)).context["dashboard"].rows]

    assert shown(exam=other_exam.pk) == [quiz.pk]
    assert shown(flag="speech") == [world.other_session.pk]
    assert shown(state="to_review") == [world.session.pk]
    assert shown(state="decided") == [world.other_session.pk]
    assert shown(state="not_ready") == [quiz.pk]


def test_a_filter_that_makes_no_sense_is_explained_and_ignored(world: World) -> None:
    other = ExamFactory(course=world.other_course)
    response = client_as(world, "instructor").get(url(world, exam=other.pk, flag="emotion", state="guilty"))
    assert response.status_code == 200
    assert response.context["problems"] == [
        "That flag type does not exist; showing every type.",
        "That review state does not exist; showing every state.",
        "That exam is not in this course; showing every exam.",
    ]
    assert len(response.context["dashboard"].rows) == 2


def test_an_empty_course_says_so(world: World) -> None:
    ExamSession.objects.all().delete()
    response = client_as(world, "instructor").get(url(world))
    assert "No student has taken an exam of this course yet." in response.content.decode()


def queries_for(world: World, extra_sessions: int) -> int:
    for index in range(extra_sessions):
        student = UserFactory(username=f"student-{extra_sessions}-{index}")
        enrol(student, world.course, Role.STUDENT)
        session = ExamSessionFactory(exam=world.exam, student=student)
        analysed(session, score=float(index), flags={"no_face": index % 3, "speech": index % 2})
    client = client_as(world, "reviewer")
    client.get(url(world))  # warm the session and the permission cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(world, flag="no_face"))
    assert response.status_code == 200
    return len(captured)


def test_the_number_of_queries_does_not_grow_with_the_number_of_sessions(world: World) -> None:
    few = queries_for(world, 3)
    many = queries_for(world, 120)  # more than two pages
    assert few == many
