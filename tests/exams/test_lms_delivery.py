"""Exams whose assessment lives in the LMS (issue 16, item 3), from the exams app's side: attempts, the
lobby, the exam page's seam for the assessment, and what publishing asks of such an exam."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from exams import delivery
from exams.authoring import AuthoringRefused, QuestionDraft, exam_incomplete, question_save
from exams.models import Delivery, ExamSession, QuestionKind
from exams.services import ExamUnavailable, session_consent, session_open
from tests.conftest import World
from tests.factories import ExamFactory, ExamSessionFactory, QuestionFactory


@pytest.fixture
def lms_exam(world: World) -> Any:
    return ExamFactory(course=world.course, title="LMS quiz", delivery=Delivery.LMS)


@pytest.fixture
def provider() -> Iterator[list[tuple[Any, Any]]]:
    """An assessment provider as the LMS integration registers one; it records what it was asked."""
    asked: list[tuple[Any, Any]] = []

    def provide(request: Any, session: ExamSession) -> dict[str, Any] | None:
        asked.append((request.user, session))
        if session.attempt_number == 99:
            return None
        return {"start": "/lti/start-here/", "status": "/lti/status-here/", "display": "frame", "platform": "Moodle"}

    delivery.register_assessment_provider(provide)
    yield asked
    delivery._providers.remove(provide)


def test_an_exam_of_the_lms_has_one_session_per_attempt(world: World, lms_exam: Any) -> None:
    student = world.users["student"]
    first = session_open(exam=lms_exam, student=student, attempt=1)
    second = session_open(exam=lms_exam, student=student, attempt=2)
    assert first != second
    assert (first.attempt_number, second.attempt_number) == (1, 2)
    assert session_open(exam=lms_exam, student=student, attempt=2) == second  # the same attempt again
    with pytest.raises(IntegrityError), transaction.atomic():
        ExamSession.objects.create(exam=lms_exam, student=student, attempt_number=2)


def test_an_exam_of_invigil_keeps_one_attempt(world: World) -> None:
    before = ExamSession.objects.count()
    with pytest.raises(ExamUnavailable, match="one attempt"):
        session_open(exam=world.exam, student=world.users["student"], attempt=2)
    with pytest.raises(ExamUnavailable):
        session_open(exam=world.exam, student=world.users["student"], attempt=0)
    assert ExamSession.objects.count() == before


def test_the_lobby_sends_the_student_to_the_lms_and_invigil_opens_no_attempt(
    world: World, client: Client, lms_exam: Any
) -> None:
    client.force_login(world.users["student"])
    body = client.get(reverse("exam_lobby", args=[lms_exam.pk])).content.decode()
    assert "Start it from your course there" in body
    assert reverse("exam_open", args=[lms_exam.pk]) not in body
    response = client.post(reverse("exam_open", args=[lms_exam.pk]), follow=True)
    assert "start it from your course there" in response.content.decode()
    assert not ExamSession.objects.filter(exam=lms_exam).exists()


def test_without_an_lms_launch_the_exam_page_explains_where_to_start(
    world: World, client: Client, lms_exam: Any, provider: list[Any]
) -> None:
    session = ExamSessionFactory(exam=lms_exam, student=world.users["student"], attempt_number=99)
    client.force_login(world.users["student"])
    response = client.get(reverse("session_exam", args=[session.pk]))
    assert response.status_code == 409
    assert "only the LMS can open it" in response.content.decode()
    assert provider == [(world.users["student"], session)]


def test_with_an_lms_launch_the_exam_page_frames_the_assessment_instead_of_questions(
    world: World, client: Client, lms_exam: Any, provider: list[Any]
) -> None:
    session = ExamSessionFactory(exam=lms_exam, student=world.users["student"])
    session_consent(session_id=session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    client.force_login(world.users["student"])
    response = client.get(reverse("session_exam", args=[session.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'action="/lti/start-here/"' in body
    assert 'name="lms-assessment"' in body
    assert "Open it in its own window" in body
    assert 'id="answers"' not in body
    assert response.context["exam_config"]["assessment"]["status"] == "/lti/status-here/"


def test_another_student_never_reaches_the_provider(
    world: World, client: Client, lms_exam: Any, provider: list[Any]
) -> None:
    session = ExamSessionFactory(exam=lms_exam, student=world.users["student"])
    client.force_login(world.users["other_student"])
    assert client.get(reverse("session_exam", args=[session.pk])).status_code == 403
    assert provider == []


def test_an_exam_of_the_lms_is_published_without_questions_and_refuses_them(
    world: World, lms_exam: Any, instructor: Any
) -> None:
    assert exam_incomplete(lms_exam, policy_on_opening=world.policy) == []
    with pytest.raises(AuthoringRefused, match="live in the LMS"):
        question_save(
            exam_id=lms_exam.pk,
            draft=QuestionDraft(kind=QuestionKind.SHORT_ANSWER, prompt="Explain.", points=Decimal(1)),
            actor=instructor,
        )
    assert not lms_exam.questions.exists()
    QuestionFactory(exam=lms_exam)  # written before the exam moved to the LMS, say
    assert exam_incomplete(lms_exam, policy_on_opening=world.policy) == [
        "Its questions live in the LMS: remove the questions written here."
    ]


def test_the_setup_page_of_an_exam_of_the_lms_offers_no_questions(world: World, client: Client, lms_exam: Any) -> None:
    client.force_login(world.users["instructor"])
    body = client.get(reverse("exam_setup", args=[lms_exam.pk])).content.decode()
    assert "questions live in the LMS" in body
    assert reverse("question_new", args=[lms_exam.pk]) not in body
    assert (
        reverse("question_new", args=[world.exam.pk])
        in client.get(reverse("exam_setup", args=[world.exam.pk])).content.decode()
    )
