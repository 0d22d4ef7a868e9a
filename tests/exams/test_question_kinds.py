"""Students answer each kind of question: one choice, every choice that applies, a number or text. A
bad answer is refused with a reason and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from exams.models import Answer, Choice, ExamSession, Question, QuestionKind, SessionStatus
from exams.services import ExamUnavailable, answer_save, session_identity_required
from tests.conftest import World, client_as
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

BEFORE = [("exams", "0011_exam_break")]


def _started(world: World) -> ExamSession:
    ExamSession.objects.filter(pk=world.session.pk).update(status=SessionStatus.STARTED)
    return world.session


def test_a_multiple_choice_answer_keeps_every_option_ticked(world: World) -> None:
    question = QuestionFactory(exam=world.exam, kind=QuestionKind.MULTIPLE_CHOICE)
    a, b, c = (Choice.objects.create(question=question, text=t) for t in "ABC")
    session, student = _started(world), world.users["student"]
    answer_save(session_id=session.pk, question_id=question.pk, choice_ids=[a.pk, c.pk], actor=student)
    answer_save(session_id=session.pk, question_id=question.pk, choice_ids=[b.pk, c.pk], actor=student)
    assert set(Answer.objects.get(question=question).choices.all()) == {b, c}
    foreign = Choice.objects.create(question=QuestionFactory(exam=world.exam), text="Elsewhere")
    with pytest.raises(ExamUnavailable, match="not one of this question's options"):
        answer_save(session_id=session.pk, question_id=question.pk, choice_ids=[a.pk, foreign.pk], actor=student)
    assert set(Answer.objects.get(question=question).choices.all()) == {b, c}


@pytest.mark.parametrize("written", ["42", "-3,5", "6.02e23", ""])
def test_a_numeric_answer_is_saved_as_written(world: World, written: str) -> None:
    question = QuestionFactory(exam=world.exam, kind=QuestionKind.NUMERIC)
    answer_save(session_id=_started(world).pk, question_id=question.pk, text=written, actor=world.users["student"])
    assert Answer.objects.get(question=question).text == written


@pytest.mark.parametrize("written", ["forty-two", "1/2", "NaN", "Infinity"])
def test_a_numeric_answer_that_is_no_number_is_refused_and_changes_nothing(world: World, written: str) -> None:
    question = QuestionFactory(exam=world.exam, kind=QuestionKind.NUMERIC)
    session, student = _started(world), world.users["student"]
    answer_save(session_id=session.pk, question_id=question.pk, text="42", actor=student)
    with pytest.raises(ExamUnavailable, match="Write a number"):
        answer_save(session_id=session.pk, question_id=question.pk, text=written, actor=student)
    assert Answer.objects.get(question=question).text == "42"


def test_the_answers_api_takes_the_options_ticked(world: World) -> None:
    question = QuestionFactory(exam=world.exam, kind=QuestionKind.MULTIPLE_CHOICE)
    a, b = (Choice.objects.create(question=question, text=t) for t in "AB")
    url = reverse("api_session_answer", args=[_started(world).pk])
    response = client_as(world, "student").post(
        url, {"question": question.pk, "choices": [a.pk, b.pk]}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert set(Answer.objects.get(question=question).choices.all()) == {a, b}


def test_the_exam_page_shows_each_kind_with_its_own_input(world: World) -> None:
    single = QuestionFactory(exam=world.exam, kind=QuestionKind.SINGLE_CHOICE, position=1)
    several = QuestionFactory(exam=world.exam, kind=QuestionKind.MULTIPLE_CHOICE, position=2)
    number = QuestionFactory(exam=world.exam, kind=QuestionKind.NUMERIC, position=3)
    one = Choice.objects.create(question=single, text="One")
    tick = Choice.objects.create(question=several, text="Tick")
    session = _started(world)
    body = client_as(world, "student").get(reverse("session_exam", args=[session.pk])).content.decode()
    assert f'type="radio" id="choice-{one.pk}"' in body
    assert f'type="checkbox" id="choice-{tick.pk}"' in body
    assert "Tick every answer that applies." in body
    assert f'inputmode="decimal" id="answer-{number.pk}"' in body
    assert '<label for="answer-' + str(number.pk) + '">Your answer (a number)</label>' in body


def test_an_exam_without_an_identity_check_asks_for_none(world: World) -> None:
    assert session_identity_required(world.session)
    world.exam.identity_check_required = False
    world.exam.save()
    world.session.refresh_from_db()
    assert not session_identity_required(world.session)


@pytest.fixture
def before_question_kinds() -> Iterator[Any]:
    """The database as the release before question kinds left it (the apps of that state); afterwards
    every migration is applied again, whatever the test did."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(leaves)


@pytest.mark.django_db(transaction=True)
def test_questions_answered_with_one_option_become_single_choice_questions(before_question_kinds: Any) -> None:
    apps = before_question_kinds
    Institution, Course, Exam = (apps.get_model("exams", name) for name in ("Institution", "Course", "Exam"))
    course = Course.objects.create(institution=Institution.objects.create(name="Old"), code="C1", title="Old")
    now = timezone.now()
    exam = Exam.objects.create(
        course=course, title="Old", opens_at=now, closes_at=now + timedelta(hours=1), duration_minutes=1
    )
    apps.get_model("exams", "Question").objects.create(exam=exam, kind="multiple_choice", prompt="Pick one.")
    executor = MigrationExecutor(connection)
    executor.migrate([("exams", "0012_exam_authoring")])
    assert list(Question.objects.values_list("kind", flat=True)) == ["single_choice"]
