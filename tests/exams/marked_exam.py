"""An exam with one question of each kind, and a student's attempt at it answered and submitted, for
the marking tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from exams.models import Choice, ExamSession, Question, QuestionKind, SessionStatus
from exams.services import answer_save, session_submit
from tests.conftest import World


@dataclass
class MarkedExam:
    single: Question
    multiple: Question
    numeric: Question
    short: Question
    #: The right option of the single-choice question, and a wrong one.
    right: Choice
    wrong: Choice
    #: The options of the multiple-choice question: A and C are right, B and D are not.
    options: dict[str, Choice]


def exam_with_every_kind(world: World) -> MarkedExam:
    def question(position: int, kind: str, points: str, **fields: Any) -> Question:
        return Question.objects.create(
            exam=world.exam,
            position=position,
            kind=kind,
            prompt=f"Question {position}",
            points=Decimal(points),
            **fields,
        )

    single = question(1, QuestionKind.SINGLE_CHOICE, "2")
    right = Choice.objects.create(question=single, position=1, text="Paris", is_correct=True)
    wrong = Choice.objects.create(question=single, position=2, text="Lyon")
    multiple = question(2, QuestionKind.MULTIPLE_CHOICE, "3")
    options = {
        text: Choice.objects.create(question=multiple, position=n, text=text, is_correct=text in "AC")
        for n, text in enumerate("ABCD", start=1)
    }
    numeric = question(3, QuestionKind.NUMERIC, "2", numeric_answer=Decimal("9.81"), numeric_tolerance=Decimal("0.05"))
    short = question(4, QuestionKind.SHORT_ANSWER, "4")
    return MarkedExam(single, multiple, numeric, short, right, wrong, options)


def started(world: World, session: ExamSession | None = None) -> ExamSession:
    session = session or world.session
    ExamSession.objects.filter(pk=session.pk).update(status=SessionStatus.STARTED, started_at=timezone.now())
    session.refresh_from_db()
    return session


def submitted(
    world: World,
    exam: MarkedExam,
    *,
    single: Choice | None = None,
    ticked: str = "",
    number: str = "",
    text: str = "",
    session: ExamSession | None = None,
) -> ExamSession:
    """The student answers what is given (nothing else) and submits."""
    session = started(world, session)
    student = session.student
    if single is not None:
        answer_save(session_id=session.pk, question_id=exam.single.pk, choice_id=single.pk, actor=student)
    if ticked:
        ids = [exam.options[letter].pk for letter in ticked]
        answer_save(session_id=session.pk, question_id=exam.multiple.pk, choice_ids=ids, actor=student)
    if number:
        answer_save(session_id=session.pk, question_id=exam.numeric.pk, text=number, actor=student)
    if text:
        answer_save(session_id=session.pk, question_id=exam.short.pk, text=text, actor=student)
    return session_submit(session_id=session.pk, actor=student)
