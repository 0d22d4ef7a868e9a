"""Breaks under a student's accommodation (issue 15, item 4): taken from the exam page, the exam clock
stands still for them (up to the break time left), answers wait, more than the allowance is refused,
and every one is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exams.models import ExamBreak, ExamSession, SessionStatus
from exams.selectors import break_allowance
from exams.services import (
    ExamUnavailable,
    answer_save,
    break_end,
    break_start,
    session_begin,
    session_submit,
    sessions_time_out_expired,
)
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, refusals_expected
from tests.exams.test_student_flow import ready
from tests.factories import AccommodationFactory, QuestionFactory


def started(world: World, *, breaks: int = 2, minutes: int = 10) -> ExamSession:
    if breaks or minutes:
        AccommodationFactory(
            exam=world.exam, student=world.users["student"], breaks_allowed=breaks, break_minutes=minutes
        )
    ready(world)
    return session_begin(session_id=world.session.pk, actor=world.users["student"])


def test_a_break_stops_the_clock_for_as_long_as_it_lasts(world: World) -> None:
    student = world.users["student"]
    session = started(world)
    deadline = session.deadline
    assert deadline is not None
    at = timezone.now()
    with time_machine.travel(at, tick=False):
        taken = break_start(session_id=session.pk, actor=student)
    session.refresh_from_db()
    # While away, the deadline covers all the break time left; the rest comes back on return.
    assert session.deadline == deadline + timedelta(minutes=10)
    with time_machine.travel(at + timedelta(minutes=4), tick=False):
        break_end(session_id=session.pk, actor=student)
    session.refresh_from_db()
    taken.refresh_from_db()
    assert session.deadline == deadline + timedelta(minutes=4)
    assert taken.ended_at == at + timedelta(minutes=4)
    allowance = break_allowance(session)
    assert (allowance.breaks_left, round(allowance.seconds_left)) == (1, 6 * 60)
    actions = list(AuditEvent.objects.filter(action__startswith="session.break").values_list("action", flat=True))
    assert actions == ["session.break_start", "session.break_end"]


def test_a_break_past_the_time_left_counts_only_up_to_it(world: World) -> None:
    student = world.users["student"]
    session = started(world, breaks=2, minutes=5)
    deadline = session.deadline
    assert deadline is not None
    at = timezone.now()
    with time_machine.travel(at, tick=False):
        break_start(session_id=session.pk, actor=student)
    with time_machine.travel(at + timedelta(minutes=8), tick=False):
        break_end(session_id=session.pk, actor=student)
        session.refresh_from_db()
        assert session.deadline == deadline + timedelta(minutes=5)
        # All the break time is used: a second break is refused though one is left in number.
        with pytest.raises(ExamUnavailable, match="all your break time"):
            break_start(session_id=session.pk, actor=student)
    assert ExamBreak.objects.count() == 1


def test_more_breaks_than_allowed_are_refused_and_change_nothing(world: World) -> None:
    student = world.users["student"]
    session = started(world, breaks=1, minutes=10)
    break_start(session_id=session.pk, actor=student)
    with pytest.raises(ExamUnavailable, match="already on a break"):
        break_start(session_id=session.pk, actor=student)
    break_end(session_id=session.pk, actor=student)
    session.refresh_from_db()
    deadline = session.deadline
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ExamUnavailable, match="all 1 of your breaks"):
        break_start(session_id=session.pk, actor=student)
    with pytest.raises(ExamUnavailable, match="not on a break"):
        break_end(session_id=session.pk, actor=student)
    session.refresh_from_db()
    assert session.deadline == deadline
    assert ExamBreak.objects.count() == 1
    assert AuditEvent.objects.count() == audit_before


def test_a_student_without_a_break_allowance_gets_none(world: World) -> None:
    session = started(world, breaks=0, minutes=0)
    with pytest.raises(ExamUnavailable, match="include no breaks"):
        break_start(session_id=session.pk, actor=world.users["student"])
    assert not ExamBreak.objects.exists()


def test_no_break_before_the_exam_starts_or_after_it_ends(world: World) -> None:
    student = world.users["student"]
    AccommodationFactory(exam=world.exam, student=student, breaks_allowed=2, break_minutes=10)
    ready(world)
    with pytest.raises(ExamUnavailable, match="during the exam"):
        break_start(session_id=world.session.pk, actor=student)
    session_begin(session_id=world.session.pk, actor=student)
    session_submit(session_id=world.session.pk, actor=student)
    with pytest.raises(ExamUnavailable, match="during the exam"):
        break_start(session_id=world.session.pk, actor=student)
    assert not ExamBreak.objects.exists()


def test_answers_wait_while_the_student_is_on_a_break(world: World) -> None:
    student = world.users["student"]
    question = QuestionFactory(exam=world.exam)
    session = started(world)
    break_start(session_id=session.pk, actor=student)
    with pytest.raises(ExamUnavailable, match="on a break"):
        answer_save(session_id=session.pk, question_id=question.pk, actor=student, text="during")
    break_end(session_id=session.pk, actor=student)
    assert answer_save(session_id=session.pk, question_id=question.pk, actor=student, text="after").text == "after"


def test_submitting_or_timing_out_on_a_break_ends_it(world: World) -> None:
    student = world.users["student"]
    session = started(world, breaks=1, minutes=10)
    break_start(session_id=session.pk, actor=student)
    session_submit(session_id=session.pk, actor=student)
    assert ExamBreak.objects.get().ended_at is not None

    other = world.other_session
    AccommodationFactory(exam=other.exam, student=other.student, breaks_allowed=1, break_minutes=10)
    session_begin_any(other)
    break_start(session_id=other.pk, actor=other.student)
    other.refresh_from_db()
    assert other.deadline is not None
    # The page is gone: once the deadline, moved on by the whole break time left, has passed, the
    # sweep times the attempt out and the break ends with it.
    with time_machine.travel(other.deadline + timedelta(minutes=1), tick=False):
        assert sessions_time_out_expired() == 1
    other.refresh_from_db()
    assert other.status == SessionStatus.TIMED_OUT
    assert not ExamBreak.objects.filter(ended_at__isnull=True).exists()


def session_begin_any(session: ExamSession) -> None:
    session.status = SessionStatus.STARTED
    session.started_at = timezone.now()
    session.deadline = timezone.now() + timedelta(minutes=30)
    session.save()


def test_the_break_never_keeps_the_attempt_open_past_closing(world: World) -> None:
    world.exam.closes_at = timezone.now() + timedelta(minutes=65)
    world.exam.save()
    session = started(world, breaks=1, minutes=20)
    break_start(session_id=session.pk, actor=world.users["student"])
    session.refresh_from_db()
    assert session.deadline == world.exam.closes_at


@pytest.mark.parametrize("role", ROLES)
def test_only_the_sessions_student_takes_a_break(world: World, client: Client, role: str) -> None:
    started(world)
    if world.users[role] is not None:
        client.force_login(world.users[role])
    url = reverse("api_session_break", args=[world.session.pk])
    audit_before = AuditEvent.objects.count()
    response = client.post(url, {}, content_type="application/json")
    if role == "student":
        assert response.status_code == 200
        body = response.json()
        assert body["breaks"]["on_break"] is True
        assert body["breaks"]["left"] == 1
        response = client.delete(url)
        assert response.status_code == 200
        assert response.json()["breaks"]["on_break"] is False
        assert response.json()["status"] == "started"
        return
    assert response.status_code == 403
    assert client.delete(url).status_code == 403
    assert not ExamBreak.objects.exists()
    assert audit_added_since(audit_before) == 2 * refusals_expected(role)


def test_a_refused_break_is_a_409_with_the_reason(world: World, client: Client) -> None:
    started(world, breaks=0, minutes=0)
    client.force_login(world.users["student"])
    response = client.post(reverse("api_session_break", args=[world.session.pk]), {}, content_type="application/json")
    assert response.status_code == 409
    assert "include no breaks" in response.json()["detail"]


def test_the_exam_page_offers_breaks_only_to_a_student_allowed_them(world: World, client: Client) -> None:
    started(world, breaks=2, minutes=10)
    client.force_login(world.users["student"])
    page = client.get(reverse("session_exam", args=[world.session.pk])).content.decode()
    assert 'id="break-start"' in page
    assert '"allowed": 2' in page

    client.force_login(world.other_session.student)
    other = world.other_session
    other.status = SessionStatus.STARTED
    other.save()
    page = client.get(reverse("session_exam", args=[other.pk])).content.decode()
    assert 'id="break-start"' not in page
