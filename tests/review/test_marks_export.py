"""The review export carries each session's marks: the total, the maximum, whether marking is complete,
and one column per question."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from exams.marking import answer_mark
from exams.models import Question, QuestionKind
from tests.conftest import World, client_as
from tests.exams.marked_exam import exam_with_every_kind, submitted
from tests.factories import ExamFactory

pytestmark = pytest.mark.django_db

QUESTION_COLUMNS = ["Q1 marks (of 2)", "Q2 marks (of 3)", "Q3 marks (of 2)", "Q4 marks (of 4)"]


def exported(world: World, query: str = "") -> tuple[list[str], dict[str, dict[str, str]]]:
    response = client_as(world, "reviewer").get(reverse("review_export", args=[world.course.pk]) + query)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    header = next(csv.reader(io.StringIO(text)))
    return header, {row["Username"]: row for row in csv.DictReader(io.StringIO(text))}


def test_the_export_of_an_exam_gives_each_sessions_marks_in_all_and_per_question(world: World) -> None:
    exam = exam_with_every_kind(world)
    session = submitted(world, exam, single=exam.right, ticked="A", number="9.8", text="Because of gravity.")
    header, rows = exported(world, f"?exam={world.exam.pk}")
    assert header[-7:] == ["Marks", "Maximum marks", "Marking complete", *QUESTION_COLUMNS]
    student, other = rows["student"], rows["other_student"]
    assert (student["Marks"], student["Maximum marks"], student["Marking complete"]) == ("4", "11", "No")
    assert [student[column] for column in QUESTION_COLUMNS] == ["2", "0", "2", ""]

    answer_mark(session_id=session.pk, question_id=exam.short.pk, points="2.5", actor=world.users["instructor"])
    _, rows = exported(world, f"?exam={world.exam.pk}")
    student = rows["student"]
    assert (student["Marks"], student["Marking complete"], student["Q4 marks (of 4)"]) == ("6.5", "Yes", "2.5")
    # A student who never started has nothing marked, and marking is not complete.
    assert (other["Marks"], other["Marking complete"], other["Q1 marks (of 2)"]) == ("0", "No", "")


def test_the_export_of_a_course_names_each_question_with_its_exam(world: World) -> None:
    exam_with_every_kind(world)
    final = ExamFactory(course=world.course, title="Final")
    Question.objects.create(exam=final, position=1, kind=QuestionKind.SHORT_ANSWER, prompt="Why?", points=5)
    header, _ = exported(world)
    assert header[-5:] == [
        "Final: Q1 marks (of 5)",
        *(f"Midterm: {column}" for column in QUESTION_COLUMNS),
    ]
