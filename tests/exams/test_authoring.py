"""The instructor's workspace: an exam is created, edited, duplicated, published and taken back from the
course page, with its questions and options on one page; bad input is refused with a reason by field and
changes nothing; once a student has started, what decides proctoring and marking stays as it is."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from exams.authoring import (
    QUESTIONS_LOCKED,
    AuthoringRefused,
    ChoiceDraft,
    QuestionDraft,
    exam_consent_policy_add,
    exam_duplicate,
    exam_update,
    question_delete,
    question_move,
    question_save,
    settings_of,
)
from exams.models import Choice, ConsentPolicy, Exam, ExamSession, Question, QuestionKind, SessionStatus
from exams.selectors import consent_policy_for
from exams.services import PublishRefused, exam_publish
from proctor.models import AuditEvent
from tests.conftest import World, client_as
from tests.exams.authoring_posts import exam_post, local_minute, question_post
from tests.factories import ExamFactory, QuestionFactory

pytestmark = pytest.mark.django_db


def _begin(world: World) -> None:
    """The student has started the exam (how they got there does not matter here)."""
    ExamSession.objects.filter(pk=world.session.pk).update(status=SessionStatus.STARTED)


def _draft(world: World, **fields: Any) -> Exam:
    opens = timezone.now() + timedelta(days=7)
    values = {"opens_at": opens, "closes_at": opens + timedelta(hours=3), "published_at": None, **fields}
    return ExamFactory(course=world.course, title="Quiz 1", **values)


def _exam_state(exam: Exam) -> tuple[Any, ...]:
    exam.refresh_from_db()
    return (
        settings_of(exam),
        exam.published_at,
        list(exam.questions.values_list("kind", "prompt", "points", "numeric_answer", "position")),
        list(Choice.objects.filter(question__exam=exam).values_list("text", "is_correct")),
    )


# --- Creating an exam from the course page ------------------------------------------------------


def test_the_course_page_offers_its_instructors_a_new_exam_and_no_one_else(world: World) -> None:
    new = reverse("exam_new", args=[world.course.pk])
    for role, offered in [("instructor", True), ("admin", True), ("reviewer", False), ("student", False)]:
        body = client_as(world, role).get(reverse("course_detail", args=[world.course.pk])).content.decode()
        assert (new in body) is offered, role


def test_an_instructor_creates_a_draft_exam_and_it_is_audited(world: World) -> None:
    client = client_as(world, "instructor")
    response = client.post(
        reverse("exam_new", args=[world.course.pk]),
        exam_post(checks_running=["no_face", "multiple_faces"], allowed_materials=["paper_notes"], record_audio=None),
    )
    exam = Exam.objects.get(title="Quiz 1")
    assert response["Location"] == reverse("exam_setup", args=[exam.pk])
    assert exam.course == world.course
    assert not exam.published
    assert (exam.record_webcam, exam.record_audio, exam.record_screen) == (True, False, True)
    assert "speech" in exam.checks_off
    assert "no_face" not in exam.checks_off
    assert exam.allowed_materials == ["paper_notes"]
    assert AuditEvent.objects.filter(action="exam.create", actor_id=world.users["instructor"].pk).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Students do not see it yet" in page
    assert "It has no questions: add at least one." in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "  "}, "title", "Give the exam a title"),
        ({"closes_at": "2020-01-01T09:00"}, "closes_at", "The exam must close after it opens."),
        ({"duration_minutes": "240"}, "duration_minutes", "is open for only 180"),
        ({"duration_minutes": "0"}, "duration_minutes", "greater than or equal to 1"),
        ({"opens_at": "next tuesday"}, "opens_at", "Give a date and a time."),
        ({"sensitivity": "paranoid"}, "sensitivity", "Select a valid choice"),
        ({"checks_running": ["mind_reading"]}, "checks_running", "Select a valid choice"),
    ],
)
def test_a_bad_new_exam_is_refused_by_field_and_nothing_is_created(
    world: World, changes: dict[str, Any], field: str, message: str
) -> None:
    client = client_as(world, "instructor")
    exams, audited = Exam.objects.count(), AuditEvent.objects.count()
    response = client.post(reverse("exam_new", args=[world.course.pk]), exam_post(**changes))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert f'href="#id_{field}' in response.content.decode()  # the summary links to the field
    assert (Exam.objects.count(), AuditEvent.objects.count()) == (exams, audited)


def test_every_field_of_the_settings_form_has_a_label(world: World) -> None:
    body = client_as(world, "instructor").get(reverse("exam_new", args=[world.course.pk])).content.decode()
    for name in ("title", "instructions", "opens_at", "closes_at", "duration_minutes", "alternative_contact"):
        assert f'<label for="id_{name}">' in body
    for name in ("sensitivity", "checks_running", "allowed_materials"):
        assert f'<label for="id_{name}_0">' in body
    assert "Times are in UTC." in body


# --- Editing ------------------------------------------------------------------------------------


def test_before_anyone_starts_every_setting_can_change(world: World) -> None:
    client_as(world, "instructor").post(
        reverse("exam_edit", args=[world.exam.pk]),
        exam_post(world.exam, duration_minutes="45", sensitivity="low", record_screen=None, checks_running=[]),
    )
    world.exam.refresh_from_db()
    assert (world.exam.duration_minutes, world.exam.sensitivity, world.exam.record_screen) == (45, "low", False)
    assert len(world.exam.checks_off) == 7
    event = AuditEvent.objects.get(action="exam.update")
    assert event.detail["changed"] == ["duration_minutes", "record_screen", "sensitivity", "checks_off"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"duration_minutes": "90"}, "duration_minutes", "students started with 60 minutes"),
        ({"sensitivity": "high"}, "sensitivity", "the sensitivity can no longer change"),
        ({"record_screen": None}, "record_screen", "which streams are recorded can no longer change"),
        ({"checks_running": ["no_face"]}, "checks_running", "the checks that run can no longer change"),
        ({"allowed_materials": ["speaking"]}, "allowed_materials", "the allowed materials"),
        ({"identity_check_required": None}, "identity_check_required", "the identity check can no longer change"),
        ({"opens_at": "2020-01-01T09:00"}, "opens_at", "the opening time can no longer change"),
    ],
)
def test_once_a_student_started_what_decides_proctoring_is_refused_with_its_reason(
    world: World, changes: dict[str, Any], field: str, reason: str
) -> None:
    _begin(world)
    before = _exam_state(world.exam)
    response = client_as(world, "instructor").post(
        reverse("exam_edit", args=[world.exam.pk]), exam_post(world.exam, title="Renamed too", **changes)
    )
    assert response.status_code == 400
    message = " ".join(response.context["form"].errors[field])
    assert message.startswith("Students have started this exam")
    assert reason in message
    assert _exam_state(world.exam) == before
    assert not AuditEvent.objects.filter(action="exam.update").exists()


def test_once_a_student_started_the_closing_time_may_move_later_but_not_earlier(world: World) -> None:
    _begin(world)
    later, earlier = world.exam.closes_at + timedelta(days=1), world.exam.closes_at - timedelta(hours=2)
    with pytest.raises(AuthoringRefused) as refused:
        exam_update(
            exam_id=world.exam.pk,
            settings=replace(settings_of(world.exam), closes_at=earlier),
            actor=world.users["instructor"],
        )
    assert "cut short attempts" in refused.value.errors["closes_at"]
    exam_update(
        exam_id=world.exam.pk,
        settings=replace(settings_of(world.exam), closes_at=later),
        actor=world.users["instructor"],
    )
    world.exam.refresh_from_db()
    assert world.exam.closes_at == later


def test_once_a_student_started_the_title_and_instructions_still_change(world: World) -> None:
    _begin(world)
    response = client_as(world, "instructor").post(
        reverse("exam_edit", args=[world.exam.pk]),
        exam_post(world.exam, title="Midterm (mechanics)", instructions="Calculators are not allowed."),
    )
    assert response.status_code == 302
    world.exam.refresh_from_db()
    assert (world.exam.title, world.exam.instructions) == ("Midterm (mechanics)", "Calculators are not allowed.")


def test_a_published_exam_cannot_lose_its_alternative(world: World) -> None:
    response = client_as(world, "instructor").post(
        reverse("exam_edit", args=[world.exam.pk]), exam_post(world.exam, alternative_contact="")
    )
    assert response.status_code == 400
    assert "cannot lose its alternative" in " ".join(response.context["form"].errors["alternative_contact"])


# --- Questions and their options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        ("single_choice", {}, [("42", True), ("48", False)]),
        ("multiple_choice", {"choice-1-is_correct": "on"}, [("42", True), ("48", True)]),
        ("short_answer", {"choice-0-text": "", "choice-1-text": ""}, []),
        ("numeric", {"choice-0-text": "", "choice-1-text": "", "numeric_answer": "42", "numeric_tolerance": "0.5"}, []),
    ],
)
def test_a_question_of_each_kind_is_added_with_its_options_on_the_same_page(
    world: World, kind: str, changes: dict[str, Any], expected: list[tuple[str, bool]]
) -> None:
    exam = _draft(world)
    response = client_as(world, "instructor").post(
        reverse("question_new", args=[exam.pk]), question_post(kind, **changes)
    )
    question = Question.objects.get(exam=exam)
    assert response["Location"] == reverse("exam_setup", args=[exam.pk]) + f"#question-{question.pk}"
    assert (question.kind, question.prompt, question.points, question.position) == (
        kind,
        "What is 6 × 7?",
        Decimal("2"),
        1,
    )
    assert list(question.choices.values_list("text", "is_correct")) == expected
    assert question.numeric_answer == (Decimal("42") if kind == "numeric" else None)
    assert AuditEvent.objects.filter(action="exam.question_add").count() == 1


@pytest.mark.parametrize(
    ("kind", "changes", "field", "message"),
    [
        ("single_choice", {"choice-1-is_correct": "on"}, "choices", "Mark exactly one option as correct (2 marked)"),
        ("single_choice", {"choice-1-text": ""}, "choices", "at least two options"),
        ("multiple_choice", {"choice-0-is_correct": None}, "choices", "Mark at least one option as correct."),
        ("short_answer", {}, "choices", "Only choice questions have options"),
        ("numeric", {"choice-0-text": "", "choice-1-text": ""}, "numeric_answer", "Give the right answer"),
        ("numeric", {"choice-0-text": "", "choice-1-text": "", "numeric_answer": "forty"}, "numeric_answer", "number"),
        ("single_choice", {"prompt": ""}, "prompt", "Write the question"),
        ("single_choice", {"points": "-1"}, "points", "greater than or equal to 0"),
        ("essay", {}, "kind", "Select a valid choice"),
    ],
)
def test_an_incomplete_question_is_refused_by_field_and_nothing_is_saved(
    world: World, kind: str, changes: dict[str, Any], field: str, message: str
) -> None:
    exam = _draft(world)
    response = client_as(world, "instructor").post(
        reverse("question_new", args=[exam.pk]), question_post(kind, **changes)
    )
    assert response.status_code == 400
    form = response.context["form"]
    shown = response.context["choices_error"] if field == "choices" else " ".join(form.errors[field])
    assert message in shown
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Question.objects.filter(exam=exam).exists()
    assert not AuditEvent.objects.filter(action__startswith="exam.question").exists()


def test_more_option_rows_keep_what_was_typed_and_save_nothing(world: World) -> None:
    exam = _draft(world)
    data = question_post("multiple_choice", prompt="Which are prime?", more="1")
    response = client_as(world, "instructor").post(reverse("question_new", args=[exam.pk]), data)
    assert response.status_code == 200
    choices = response.context["choices"]
    assert len(choices.forms) == 6  # the two options typed, the two empty rows sent, and two more
    body = response.content.decode()
    assert 'value="42"' in body
    assert "Which are prime?" in body
    assert not Question.objects.exists()


def test_changing_a_question_replaces_its_options_and_clearing_a_row_removes_one(world: World) -> None:
    exam = _draft(world)
    question = question_save(
        exam_id=exam.pk,
        draft=QuestionDraft(
            kind="single_choice",
            prompt="6 × 7?",
            points=Decimal("1"),
            choices=[ChoiceDraft("42", True), ChoiceDraft("48"), ChoiceDraft("36")],
        ),
        actor=world.users["instructor"],
    )
    client = client_as(world, "instructor")
    page = client.get(reverse("question_edit", args=[exam.pk, question.pk])).content.decode()
    assert 'value="36"' in page
    data = question_post(**{"choice-TOTAL_FORMS": "5", "choice-2-text": "", "choice-4-text": "54"})
    client.post(reverse("question_edit", args=[exam.pk, question.pk]), data)
    assert list(question.choices.values_list("text", flat=True)) == ["42", "48", "54"]


def test_questions_move_and_are_removed_and_stay_numbered_in_order(world: World) -> None:
    exam = _draft(world)
    first, second, third = (QuestionFactory(exam=exam, position=n, prompt=f"Q{n}") for n in (1, 2, 3))
    instructor = world.users["instructor"]
    question_move(exam_id=exam.pk, question_id=third.pk, up=True, actor=instructor)
    assert list(exam.questions.values_list("prompt", flat=True)) == ["Q1", "Q3", "Q2"]
    with pytest.raises(AuthoringRefused, match="Question 1 is first already"):
        question_move(exam_id=exam.pk, question_id=first.pk, up=True, actor=instructor)
    question_delete(exam_id=exam.pk, question_id=first.pk, actor=instructor)
    assert list(exam.questions.values_list("prompt", "position")) == [("Q3", 1), ("Q2", 2)]
    assert second.pk in exam.questions.values_list("pk", flat=True)


def test_once_a_student_started_no_question_changes(world: World) -> None:
    question = QuestionFactory(exam=world.exam, position=1)
    QuestionFactory(exam=world.exam, position=2)
    _begin(world)
    before = _exam_state(world.exam)
    instructor = world.users["instructor"]
    draft = QuestionDraft(kind="short_answer", prompt="Typo fixed.", points=Decimal("1"))
    for attempt in (
        lambda: question_save(exam_id=world.exam.pk, draft=draft, actor=instructor),
        lambda: question_save(exam_id=world.exam.pk, question_id=question.pk, draft=draft, actor=instructor),
        lambda: question_delete(exam_id=world.exam.pk, question_id=question.pk, actor=instructor),
        lambda: question_move(exam_id=world.exam.pk, question_id=question.pk, up=False, actor=instructor),
    ):
        with pytest.raises(AuthoringRefused) as refused:
            attempt()
        assert refused.value.errors == {"__all__": QUESTIONS_LOCKED}
    assert _exam_state(world.exam) == before
    response = client_as(world, "instructor").post(reverse("question_delete", args=[world.exam.pk, question.pk]))
    assert response.status_code == 400
    assert "answers already given were written to them" in response.content.decode()


def test_a_question_of_another_exam_is_not_found_through_this_one(world: World) -> None:
    elsewhere = QuestionFactory(exam=world.other_exam)
    client = client_as(world, "instructor")
    assert client.get(reverse("question_edit", args=[world.exam.pk, elsewhere.pk])).status_code == 404
    assert client.post(reverse("question_delete", args=[world.exam.pk, elsewhere.pk])).status_code == 404
    assert Question.objects.filter(pk=elsewhere.pk).exists()


# --- Publishing ---------------------------------------------------------------------------------


def test_publishing_names_everything_missing_at_once_and_changes_nothing(world: World) -> None:
    exam = _draft(
        world,
        opens_at=timezone.now() - timedelta(days=2),
        closes_at=timezone.now() - timedelta(days=1),
        alternative_contact="",
    )
    ConsentPolicy.objects.all().delete()
    QuestionFactory(exam=exam, kind=QuestionKind.SINGLE_CHOICE)  # no options
    response = client_as(world, "instructor").post(reverse("exam_setup_publish", args=[exam.pk]), {"action": "publish"})
    assert response.status_code == 400
    body = response.content.decode()
    for missing in (
        "Question 1 is incomplete: A choice question needs at least two options with text.",
        "Its window has passed",
        "No consent policy is in effect on its opening day",
        "say whom to contact",
    ):
        assert missing in body.replace("&#x27;", "'")
    exam.refresh_from_db()
    assert not exam.published
    assert not AuditEvent.objects.filter(action="exam.publish").exists()


def test_a_complete_draft_is_published_and_a_student_then_sees_it(world: World) -> None:
    exam = _draft(world)
    QuestionFactory(exam=exam)
    student = client_as(world, "student")
    assert "Quiz 1" not in student.get(reverse("home")).content.decode()
    instructor = client_as(world, "instructor")
    assert "The exam is complete" in instructor.get(reverse("exam_setup", args=[exam.pk])).content.decode()
    instructor.post(reverse("exam_setup_publish", args=[exam.pk]), {"action": "publish"})
    exam.refresh_from_db()
    assert exam.published
    assert "Quiz 1" in student.get(reverse("home")).content.decode()
    instructor.post(reverse("exam_setup_publish", args=[exam.pk]), {"action": "unpublish"})
    exam.refresh_from_db()
    assert not exam.published


def test_a_consent_policy_taking_effect_by_the_opening_day_is_enough_to_publish(world: World) -> None:
    exam = _draft(world)
    ConsentPolicy.objects.all().delete()
    QuestionFactory(exam=exam)
    with pytest.raises(PublishRefused, match="No consent policy"):
        exam_publish(exam_id=exam.pk, actor=world.users["instructor"])
    exam_consent_policy_add(
        exam_id=exam.pk,
        name="Quiz recording",
        text="We record the webcam, microphone and screen.",
        effective_from=timezone.localdate(exam.opens_at),
        actor=world.users["instructor"],
    )
    exam_publish(exam_id=exam.pk, actor=world.users["instructor"])


# --- The exam's own consent policy --------------------------------------------------------------


def test_an_instructor_adds_numbered_versions_of_the_exams_own_consent_policy(world: World) -> None:
    client = client_as(world, "instructor")
    url = reverse("exam_consent_policy", args=[world.exam.pk])
    today = timezone.localdate().isoformat()
    for text in ("We record the webcam.", "We record the webcam and the screen."):
        client.post(url, {"name": "Midterm recording", "text": text, "effective_from": today})
    policy = consent_policy_for(world.exam)
    assert policy is not None
    assert (policy.exam, policy.version, policy.text) == (world.exam, 2, "We record the webcam and the screen.")
    assert AuditEvent.objects.filter(action="exam.consent_policy_add").count() == 2


def test_a_consent_policy_without_text_is_refused_and_nothing_is_added(world: World) -> None:
    count = ConsentPolicy.objects.count()
    response = client_as(world, "instructor").post(
        reverse("exam_consent_policy", args=[world.exam.pk]), {"name": "Empty", "text": " ", "effective_from": ""}
    )
    assert response.status_code == 400
    form = response.context["policy_form"]
    assert "Write the policy" in form.errors["text"][0]
    assert "Give the day it takes effect." in form.errors["effective_from"][0]
    assert ConsentPolicy.objects.count() == count


# --- Duplicating --------------------------------------------------------------------------------


def test_a_duplicate_is_a_draft_with_the_settings_and_questions_but_no_students(world: World) -> None:
    world.exam.allowed_materials = ["paper_notes"]
    world.exam.save()
    question = QuestionFactory(exam=world.exam, kind=QuestionKind.MULTIPLE_CHOICE)
    Choice.objects.create(question=question, text="A", is_correct=True)
    Choice.objects.create(question=question, text="B", is_correct=True)
    copy = exam_duplicate(exam_id=world.exam.pk, actor=world.users["instructor"])
    assert copy.title == "Copy of Midterm"
    assert not copy.published
    assert copy.allowed_materials == ["paper_notes"]
    assert list(Choice.objects.filter(question__exam=copy).values_list("text", "is_correct")) == [
        ("A", True),
        ("B", True),
    ]
    assert not copy.sessions.exists()
    assert Choice.objects.filter(question=question).count() == 2  # the original keeps its own
    assert AuditEvent.objects.get(action="exam.duplicate").detail == {"copied_from": world.exam.pk}


def test_the_settings_form_shows_the_exams_times_in_local_time(world: World) -> None:
    body = client_as(world, "instructor").get(reverse("exam_edit", args=[world.exam.pk])).content.decode()
    assert f'value="{local_minute(world.exam.closes_at)}"' in body


def test_students_read_on_the_exam_page_what_they_may_use(world: World) -> None:
    client = client_as(world, "student")
    assert "Nothing beyond the exam page" in client.get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    world.exam.allowed_materials = ["second_display", "paper_notes"]
    world.exam.save()
    body = client.get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert "Notes and books on paper; A second display" in body
