"""Marks: choice and numeric answers are marked when the attempt ends, by the rules of exams.marking;
a person marks short answers, between 0 and the question's points; a bad mark is refused with a reason
and changes nothing; staff see each session's answers and marks."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from exams.lifecycle import ATTEMPT_ENDED
from exams.marking import MarkRefused, answer_mark, session_mark_automatically, session_marks
from exams.models import Mark, SessionStatus
from exams.services import session_transition
from proctor.errors import Conflict, NotFound
from proctor.models import AuditEvent, AuditSubject
from tests.conftest import World, client_as
from tests.exams.marked_exam import MarkedExam, exam_with_every_kind, started, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def exam(world: World) -> MarkedExam:
    return exam_with_every_kind(world)


def points(session: object) -> dict[int, tuple[Decimal, bool]]:
    return {m.question.position: (m.points, m.automatic) for m in Mark.objects.filter(session=session)}


def test_right_choice_and_numeric_answers_earn_their_points_when_the_attempt_is_submitted(
    world: World, exam: MarkedExam
) -> None:
    session = submitted(world, exam, single=exam.right, ticked="AC", number="9.81", text="Because of gravity.")
    assert points(session) == {1: (Decimal("2"), True), 2: (Decimal("3"), True), 3: (Decimal("2"), True)}
    marks = session_marks(session)
    assert (marks.total, marks.maximum, marks.waiting, marks.complete) == (Decimal("7"), Decimal("11"), 1, False)
    assert [q.waits_for_a_person for q in marks.questions] == [False, False, False, True]
    event = AuditEvent.objects.get(action="marks.automatic")
    assert (event.actor_id, event.detail["questions"]) == (None, [exam.single.pk, exam.multiple.pk, exam.numeric.pk])


def test_wrong_answers_earn_nothing(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, single=exam.wrong, ticked="B", number="10", text="No idea.")
    assert points(session) == {1: (Decimal("0"), True), 2: (Decimal("0"), True), 3: (Decimal("0"), True)}


@pytest.mark.parametrize(
    ("ticked", "earned"),
    [("AC", "3"), ("CA", "3"), ("A", "0"), ("C", "0"), ("ACB", "0"), ("ABCD", "0"), ("BD", "0")],
)
def test_multiple_choice_is_all_or_nothing(world: World, exam: MarkedExam, ticked: str, earned: str) -> None:
    session = submitted(world, exam, ticked=ticked)
    assert points(session)[2] == (Decimal(earned), True)


@pytest.mark.parametrize(
    ("number", "earned"),
    [
        ("9.81", "2"),
        ("9.76", "2"),  # the tolerance's bounds are included
        ("9.86", "2"),
        ("9,84", "2"),  # a decimal comma
        ("981e-2", "2"),
        ("9.7599", "0"),
        ("9.8601", "0"),
        ("-9.81", "0"),
    ],
)
def test_a_numeric_answer_is_right_within_the_tolerance_either_way(
    world: World, exam: MarkedExam, number: str, earned: str
) -> None:
    session = submitted(world, exam, number=number)
    assert points(session)[3] == (Decimal(earned), True)


def test_unanswered_questions_earn_nothing_and_nothing_waits_for_a_person(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, text="   ")
    assert points(session) == {n: (Decimal("0"), True) for n in (1, 2, 3, 4)}
    marks = session_marks(session)
    assert (marks.total, marks.waiting, marks.complete) == (Decimal("0"), 0, True)


@pytest.mark.parametrize("ending", sorted(ATTEMPT_ENDED - {SessionStatus.SUBMITTED}))
def test_an_attempt_that_times_out_or_is_abandoned_is_marked_too(world: World, exam: MarkedExam, ending: str) -> None:
    session = started(world)
    session_transition(session_id=session.pk, to_status=ending, actor=None, reason="Test.")
    assert len(points(session)) == 4


def test_a_session_abandoned_before_it_started_gets_no_marks(world: World, exam: MarkedExam) -> None:
    session_transition(session_id=world.session.pk, to_status=SessionStatus.ABANDONED, actor=None, reason="Test.")
    assert points(world.session) == {}
    assert session_marks(world.session).markable is False


def test_a_person_marks_a_short_answer_and_may_change_the_mark(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, single=exam.right, text="Because of gravity.")
    reviewer, instructor = world.users["reviewer"], world.users["instructor"]
    answer_mark(session_id=session.pk, question_id=exam.short.pk, points="2,5", comment=" Half right. ", actor=reviewer)
    mark = Mark.objects.get(session=session, question=exam.short)
    assert (mark.points, mark.automatic, mark.marked_by, mark.comment) == (
        Decimal("2.5"),
        False,
        reviewer,
        "Half right.",
    )
    marks = session_marks(session)
    assert (marks.total, marks.waiting, marks.complete) == (Decimal("4.5"), 0, True)

    answer_mark(session_id=session.pk, question_id=exam.short.pk, points="4", actor=instructor)
    mark.refresh_from_db()
    assert (mark.points, mark.marked_by, mark.comment) == (Decimal("4"), instructor, "")
    entries = AuditEvent.objects.filter(action="marks.set").order_by("seq")
    assert [(e.actor_id, e.detail["points"], e.detail["previous"]) for e in entries] == [
        (reviewer.pk, "2.50", None),
        (instructor.pk, "4.00", "2.50"),
    ]
    subjects = AuditSubject.objects.filter(seq__in=[e.seq for e in entries]).values_list("subject_id", flat=True)
    assert list(subjects) == [world.users["student"].pk] * 2


@pytest.mark.parametrize(
    ("given", "comment", "reason"),
    [
        ("4.5", "", "worth 4 points at most"),
        ("-1", "", "cannot be negative"),
        ("four", "", "is not one"),
        ("NaN", "", "is not one"),
        ("Infinity", "", "is not one"),
        ("", "", "Give a mark"),
        ("1.234", "", "two decimal places"),
        ("1\x00", "", "control character"),
        ("1", "Good\x00", "control character"),
        ("1", "x" * 2001, "under 2,000 characters"),
    ],
)
def test_a_bad_mark_is_refused_with_a_reason_and_changes_nothing(
    world: World, exam: MarkedExam, given: str, comment: str, reason: str
) -> None:
    session = submitted(world, exam, text="Because of gravity.")
    answer_mark(session_id=session.pk, question_id=exam.short.pk, points="1", actor=world.users["instructor"])
    before, events = points(session), AuditEvent.objects.count()
    with pytest.raises(MarkRefused, match=reason):
        answer_mark(
            session_id=session.pk,
            question_id=exam.short.pk,
            points=given,
            comment=comment,
            actor=world.users["reviewer"],
        )
    assert points(session) == before
    assert AuditEvent.objects.count() == events


def test_a_question_marked_automatically_or_an_attempt_under_way_cannot_be_marked_by_hand(
    world: World, exam: MarkedExam
) -> None:
    instructor = world.users["instructor"]
    session = started(world)
    with pytest.raises(Conflict, match="once the attempt is over"):
        answer_mark(session_id=session.pk, question_id=exam.short.pk, points="1", actor=instructor)
    session = submitted(world, exam, text="Because.", session=session)
    for question in (exam.single, exam.numeric):
        with pytest.raises(Conflict, match="marked automatically"):
            answer_mark(session_id=session.pk, question_id=question.pk, points="0", actor=instructor)
    with pytest.raises(NotFound, match="not part of this session's exam"):
        answer_mark(session_id=session.pk, question_id=exam.short.pk + 100, points="0", actor=instructor)
    assert Mark.objects.filter(automatic=False).count() == 0


def test_marking_again_leaves_every_mark_as_it_was(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, single=exam.wrong, text="Because.")
    answer_mark(session_id=session.pk, question_id=exam.short.pk, points="3", actor=world.users["instructor"])
    before = points(session)
    assert session_mark_automatically(session_id=session.pk) == []
    assert points(session) == before


def test_staff_see_the_answers_marks_and_who_marked_them(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, single=exam.right, ticked="AB", number="9.8", text="Because of gravity.")
    client = client_as(world, "instructor")
    url = reverse("session_marks", args=[session.pk])
    page = client.get(url).content.decode()
    for shown in ("Paris", "A; B", "9.8", "Because of gravity.", "4 of 11 points", "1 short answer waits for a person"):
        assert shown in page
    assert "Mark for question 4 (0 to 4 points)" in page
    response = client.post(reverse("session_answer_mark", args=[session.pk, exam.short.pk]), {"points": "3"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "7 of 11 points" in page
    assert f"marked by {world.users['instructor'].get_full_name()}" in page
    assert "Complete" in page
    assert AuditEvent.objects.filter(action="marks.view", actor_id=world.users["instructor"].pk).count() == 2


def test_a_bad_mark_sent_from_the_page_is_shown_with_its_reason(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, text="Because of gravity.")
    client = client_as(world, "reviewer")
    response = client.post(reverse("session_answer_mark", args=[session.pk, exam.short.pk]), {"points": "9"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "The mark was not saved. This question is worth 4 points at most; 9 is more." in page
    assert 'aria-invalid="true"' in page
    assert not Mark.objects.filter(question=exam.short).exists()


def test_the_question_editor_says_how_multiple_choice_is_marked(world: World) -> None:
    page = client_as(world, "instructor").get(reverse("question_new", args=[world.exam.pk])).content.decode()
    assert "multiple choice is marked all or nothing" in page


def test_attempts_that_ended_before_marking_existed_are_marked_by_the_command(world: World, exam: MarkedExam) -> None:
    session = submitted(world, exam, single=exam.right, text="Because.")
    Mark.objects.all().delete()
    out = io.StringIO()
    call_command("mark_ended_attempts", stdout=out)
    assert points(session) == {1: (Decimal("2"), True), 2: (Decimal("0"), True), 3: (Decimal("0"), True)}
    assert out.getvalue().strip() == "3 question(s) marked automatically."
    call_command("mark_ended_attempts", stdout=out)
    assert out.getvalue().strip().endswith("0 question(s) marked automatically.")
