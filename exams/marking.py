"""Marks: choice and numeric questions are marked from the student's answers when the attempt ends,
short answers by a person of the course's staff. Students do not see marks in Invigil (a proctoring
tool); the course's staff see them and the review export hands them to the LMS.

Rules, in one place:

- Single choice: the question's points when the option chosen is a right one, else 0.
- Multiple choice (all that apply): all or nothing. The points when exactly the right options are
  ticked, no more and no fewer; else 0. No negative marks.
- Numeric: the points when the number written is within the tolerance of the right answer, either way,
  the bounds included; else 0.
- Short answer: a person gives between 0 and the question's points, with an optional comment.
- A question left unanswered earns 0, whatever its kind: nothing waits for a person.

Questions cannot change once a student has started (exams.authoring), so automatic marks are worked out
once, when the attempt ends, and never recomputed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone

from exams.lifecycle import ATTEMPT_OVER
from exams.models import Answer, Choice, ExamSession, Mark, Question, QuestionKind
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.control_characters import control_character_problem
from proctor.errors import Conflict, Invalid, NotFound

MAX_COMMENT_CHARS = 2000
#: Said on the question editor and on the marks page.
MULTIPLE_CHOICE_RULE = (
    "Marked all or nothing: full points only when exactly the right options are ticked, no more and no fewer."
)


class MarkRefused(Invalid):
    """A mark that cannot be taken as given (above the points, negative, not a number); nothing changed."""


def numeric_value(text: str) -> Decimal | None:
    """The number a student wrote (a decimal comma is read as a point), or None when it is not one.
    A comma that may be a thousands separator ("1,000", "1,000.5", "1,000,000") makes it not one: it
    would be misread by a thousand either way, so the student is asked to write it again."""
    text = text.strip()
    if text.count(",") > 1 or ("," in text and "." in text) or re.fullmatch(r"[-+]?\d{1,3},\d{3}", text):
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def decimal_text(value: Decimal) -> str:
    """A number as people write it: 2, 2.5, 40 (not 2.00 or 4E+1)."""
    return f"{value.normalize():f}"


def _answered(question: Question, answer: Answer | None) -> bool:
    if answer is None:
        return False
    if question.kind == QuestionKind.SINGLE_CHOICE:
        return answer.choice_id is not None
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        return bool(answer.choices.all())
    return bool(answer.text.strip())


def automatic_points(question: Question, answer: Answer | None) -> Decimal | None:
    """What the answer earns by the rules above, or None when a person must mark it (a short answer
    with something written). Reads ``question.choices`` and ``answer.choices``: prefetch them."""
    if not _answered(question, answer):
        return Decimal("0")
    assert answer is not None
    if question.kind == QuestionKind.SINGLE_CHOICE:
        right = any(choice.pk == answer.choice_id and choice.is_correct for choice in question.choices.all())
        return question.points if right else Decimal("0")
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        wanted = {choice.pk for choice in question.choices.all() if choice.is_correct}
        ticked = {choice.pk for choice in answer.choices.all()}
        return question.points if ticked == wanted else Decimal("0")
    if question.kind == QuestionKind.NUMERIC and question.numeric_answer is not None:
        value = numeric_value(answer.text)
        near = value is not None and abs(value - question.numeric_answer) <= question.numeric_tolerance
        return question.points if near else Decimal("0")
    return None


def _questions(session: ExamSession) -> list[Question]:
    return list(session.exam.questions.prefetch_related("choices"))


def _answers(session: ExamSession) -> dict[int, Answer]:
    answers = Answer.objects.filter(session=session).prefetch_related(
        Prefetch("choices", queryset=Choice.objects.order_by("position", "id"))
    )
    return {answer.question_id: answer for answer in answers.select_related("choice")}


def _markable(session: ExamSession) -> bool:
    """The attempt was started and is over: its answers are final."""
    return session.started_at is not None and session.status in ATTEMPT_OVER


@transaction.atomic
def session_mark_automatically(*, session_id: Any) -> list[Mark]:
    """Mark every question that needs no person, once the attempt is over. Idempotent: questions marked
    already (automatically or by a person) are left as they are. Called as the attempt ends."""
    session = ExamSession.objects.select_for_update().select_related("exam").get(pk=session_id)
    if not _markable(session):
        raise Conflict("Answers are marked once the attempt is over.")
    marked = set(session.marks.values_list("question_id", flat=True))
    answers = _answers(session)
    now = timezone.now()
    marks = []
    for question in _questions(session):
        points = automatic_points(question, answers.get(question.pk))
        if question.pk in marked or points is None:
            continue
        marks.append(Mark(session=session, question=question, points=points, automatic=True, marked_at=now))
    if marks:
        Mark.objects.bulk_create(marks)
        audit_record(
            actor=None,
            action=AuditAction.MARKS_AUTOMATIC,
            target=session,
            detail={"questions": [mark.question_id for mark in marks]},
        )
    return marks


def _points_given(raw: str, question: Question) -> Decimal:
    text = raw.strip().replace(",", ".")
    if not text:
        raise MarkRefused("Give a mark: a number of points.")
    value = numeric_value(text)
    if value is None:
        raise MarkRefused(f"A mark is a number of points, such as 1 or 1.5; {raw.strip()[:40]!r} is not one.")
    if value < 0:
        raise MarkRefused("A mark cannot be negative.")
    if value > question.points:
        raise MarkRefused(
            f"This question is worth {decimal_text(question.points)} points at most; {decimal_text(value)} is more."
        )
    if value != value.quantize(Decimal("0.01")):
        raise MarkRefused("Give the mark to two decimal places at most, such as 1.25.")
    return value.quantize(Decimal("0.01"))


@transaction.atomic
def answer_mark(
    *,
    session_id: Any,
    question_id: int,
    points: str,
    comment: str = "",
    actor: Any,
    request: HttpRequest | None = None,
) -> Mark:
    """A person marks a short answer, or changes its mark: between 0 and the question's points, with an
    optional comment. Refused, changing nothing, for a mark that is not one, a question marked
    automatically, or an attempt still under way."""
    problem = control_character_problem([points, comment])
    if problem is not None:
        raise MarkRefused(problem)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise MarkRefused(f"Keep the comment under {MAX_COMMENT_CHARS:,} characters ({len(comment):,} given).")
    session = ExamSession.objects.select_for_update().select_related("exam").get(pk=session_id)
    if not _markable(session):
        raise Conflict("Answers are marked once the attempt is over; this one is not.")
    question = session.exam.questions.prefetch_related("choices").filter(pk=question_id).first()
    if question is None:
        raise NotFound("That question is not part of this session's exam.")
    if automatic_points(question, _answers(session).get(question.pk)) is not None:
        raise Conflict("This question is marked automatically from the answer; a person marks short answers only.")
    value = _points_given(points, question)
    previous = Mark.objects.filter(session=session, question=question).first()
    mark, _ = Mark.objects.update_or_create(
        session=session,
        question=question,
        defaults={
            "points": value,
            "automatic": False,
            "marked_by": actor,
            "marked_at": timezone.now(),
            "comment": comment,
        },
    )
    audit_record(
        actor=actor,
        action=AuditAction.MARK_SET,
        target=session,
        request=request,
        detail={
            "question": question.pk,
            "points": str(value),
            "previous": None if previous is None else str(previous.points),
        },
    )
    return mark


@dataclass(frozen=True)
class MarkedQuestion:
    question: Question
    answer: Answer | None
    mark: Mark | None

    @property
    def waits_for_a_person(self) -> bool:
        return self.mark is None

    @property
    def right_answer(self) -> str:
        """The key in words: the right options, or the number with its tolerance ("" for a short answer)."""
        question = self.question
        if question.has_choices:
            return "; ".join(choice.text for choice in question.choices.all() if choice.is_correct)
        if question.kind == QuestionKind.NUMERIC and question.numeric_answer is not None:
            tolerance = question.numeric_tolerance
            return decimal_text(question.numeric_answer) + (f" ± {decimal_text(tolerance)}" if tolerance else "")
        return ""


@dataclass(frozen=True)
class SessionMarks:
    session: ExamSession
    questions: list[MarkedQuestion]
    #: False when the attempt never started or is still under way: there is nothing to mark yet.
    markable: bool

    @property
    def total(self) -> Decimal:
        return sum((q.mark.points for q in self.questions if q.mark is not None), Decimal("0"))

    @property
    def maximum(self) -> Decimal:
        return sum((q.question.points for q in self.questions), Decimal("0"))

    @property
    def waiting(self) -> int:
        """Short answers that still wait for a person."""
        return sum(q.waits_for_a_person for q in self.questions) if self.markable else 0

    @property
    def complete(self) -> bool:
        return self.markable and self.waiting == 0


def session_marks(session: ExamSession) -> SessionMarks:
    """Each question of the session's exam with the student's answer and its mark, if any."""
    marks = {mark.question_id: mark for mark in session.marks.select_related("marked_by")}
    answers = _answers(session)
    return SessionMarks(
        session=session,
        questions=[
            MarkedQuestion(question=q, answer=answers.get(q.pk), mark=marks.get(q.pk)) for q in _questions(session)
        ],
        markable=_markable(session),
    )


@dataclass(frozen=True)
class MarksSummary:
    """A session's marks for the export: points per question id, the total, and whether it is complete."""

    points: dict[int, Decimal]
    total: Decimal
    complete: bool


def marks_of_sessions(sessions: list[ExamSession], questions: list[Question]) -> dict[Any, MarksSummary]:
    """The marks of many sessions in one query, for the export; ``questions`` are those of their exams."""
    points: dict[Any, dict[int, Decimal]] = {}
    for session_id, question_id, value in Mark.objects.filter(session__in=[s.pk for s in sessions]).values_list(
        "session_id", "question_id", "points"
    ):
        points.setdefault(session_id, {})[question_id] = value
    of_exam: dict[int, set[int]] = {}
    for question in questions:
        of_exam.setdefault(question.exam_id, set()).add(question.pk)
    summaries = {}
    for session in sessions:
        found = points.get(session.pk, {})
        complete = _markable(session) and of_exam.get(session.exam_id, set()) <= set(found)
        summaries[session.pk] = MarksSummary(points=found, total=sum(found.values(), Decimal("0")), complete=complete)
    return summaries
