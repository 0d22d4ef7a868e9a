"""The exam-session state machine: named statuses, a transition table, one mutator."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from exams.lifecycle import COMPLETED, HUMAN_ONLY, TRANSITIONS, TransitionError
from exams.models import ExamSession, SessionStatus, SessionTransition
from exams.services import session_transition
from proctor.audit import audit_verify
from proctor.models import AuditEvent
from tests.conftest import World

S = SessionStatus


def walk(session: ExamSession, actor: Any, *statuses: str) -> ExamSession:
    for status in statuses:
        session = session_transition(
            session_id=session.pk, to_status=status, actor=actor if status in HUMAN_ONLY else None, reason="test"
        )
    return session


def test_every_status_has_a_row_in_the_transition_table() -> None:
    assert set(TRANSITIONS) == set(S.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(S.values)


def test_a_session_walks_from_created_to_cleared(world: World) -> None:
    reviewer = world.users["reviewer"]
    session = walk(
        world.session,
        reviewer,
        S.CONSENTED,
        S.READY,
        S.STARTED,
        S.SUBMITTED,
        S.ANALYSING,
        S.READY_FOR_REVIEW,
        S.CLEARED,
    )
    session.refresh_from_db()
    assert session.status == S.CLEARED
    assert session.started_at is not None
    assert session.ended_at is not None
    assert session.started_at <= session.ended_at
    history = list(session.transitions.values_list("from_status", "to_status"))
    assert history[0] == (S.CREATED, S.CONSENTED)
    assert history[-1] == (S.READY_FOR_REVIEW, S.CLEARED)


def test_it_records_who_moved_the_session_and_why(world: World) -> None:
    session = walk(world.session, None, S.CONSENTED, S.READY, S.STARTED, S.SUBMITTED, S.ANALYSING, S.READY_FOR_REVIEW)
    session_transition(
        session_id=session.pk,
        to_status=S.SECOND_REVIEW,
        actor=world.users["reviewer"],
        reason="Second face visible for four minutes.",
    )
    last = SessionTransition.objects.filter(session=session).latest("id")
    assert last.actor == world.users["reviewer"]
    assert last.reason == "Second face visible for four minutes."
    event = AuditEvent.objects.filter(action="session.transition").latest("seq")
    assert event.actor_label == "reviewer"
    assert event.target_id == str(session.pk)
    assert event.detail == {
        "from": S.READY_FOR_REVIEW,
        "to": S.SECOND_REVIEW,
        "reason": "Second face visible for four minutes.",
    }
    assert audit_verify().ok


def test_it_refuses_an_illegal_transition_with_a_clear_error_and_changes_nothing(world: World) -> None:
    transitions_before = SessionTransition.objects.count()
    audit_before = AuditEvent.objects.count()
    with pytest.raises(TransitionError, match="cannot go from not started to submitted"):
        session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="skip ahead")
    world.session.refresh_from_db()
    assert world.session.status == S.CREATED
    assert SessionTransition.objects.count() == transitions_before
    assert AuditEvent.objects.count() == audit_before


def test_it_refuses_an_unknown_status(world: World) -> None:
    with pytest.raises(TransitionError, match="not an exam-session status"):
        session_transition(session_id=world.session.pk, to_status="expelled", actor=None, reason="x")


def test_it_requires_a_reason(world: World) -> None:
    with pytest.raises(TransitionError, match="reason"):
        session_transition(session_id=world.session.pk, to_status=S.CONSENTED, actor=None, reason="   ")


@pytest.mark.parametrize("outcome", sorted(COMPLETED))
def test_a_completed_session_never_goes_back_except_through_an_appeal(world: World, outcome: str) -> None:
    reviewer = world.users["reviewer"]
    path = [S.CONSENTED, S.READY, S.STARTED, S.SUBMITTED, S.ANALYSING, S.READY_FOR_REVIEW]
    path += [S.CLEARED] if outcome == S.CLEARED else [S.SECOND_REVIEW]
    session = walk(world.session, reviewer, *path)
    if outcome == S.CONCERN_CONFIRMED:
        session = walk(session, world.users["instructor"], S.CONCERN_CONFIRMED)
    for target in set(S.values) - {outcome, S.APPEALED}:
        with pytest.raises(TransitionError, match="final; only an appeal can reopen it"):
            session_transition(session_id=session.pk, to_status=target, actor=reviewer, reason="undo")
    session = session_transition(
        session_id=session.pk,
        to_status=S.APPEALED,
        actor=world.users["student"],
        reason="I was reading the question aloud.",
    )
    assert session.status == S.APPEALED
    assert S.SECOND_REVIEW in TRANSITIONS[S.APPEALED]


@pytest.mark.parametrize("target", [S.CLEARED, S.SECOND_REVIEW])
def test_the_system_can_never_decide_an_outcome(world: World, target: str) -> None:
    session = walk(world.session, None, S.CONSENTED, S.READY, S.STARTED, S.SUBMITTED, S.ANALYSING, S.READY_FOR_REVIEW)
    with pytest.raises(TransitionError, match="Only a person"):
        session_transition(session_id=session.pk, to_status=target, actor=None, reason="score above threshold")
    session.refresh_from_db()
    assert session.status == S.READY_FOR_REVIEW


def test_an_anonymous_user_counts_as_the_system(world: World) -> None:
    from django.contrib.auth.models import AnonymousUser

    session = walk(world.session, None, S.CONSENTED, S.READY, S.STARTED, S.SUBMITTED, S.ANALYSING, S.READY_FOR_REVIEW)
    with pytest.raises(TransitionError, match="Only a person"):
        session_transition(session_id=session.pk, to_status=S.CLEARED, actor=AnonymousUser(), reason="x")


def test_a_concern_needs_a_second_person_to_confirm_it(world: World) -> None:
    reviewer, instructor = world.users["reviewer"], world.users["instructor"]
    session = walk(
        world.session,
        reviewer,
        S.CONSENTED,
        S.READY,
        S.STARTED,
        S.SUBMITTED,
        S.ANALYSING,
        S.READY_FOR_REVIEW,
        S.SECOND_REVIEW,
    )
    with pytest.raises(TransitionError, match="someone other than the person who referred it"):
        session_transition(session_id=session.pk, to_status=S.CONCERN_CONFIRMED, actor=reviewer, reason="sure")
    session.refresh_from_db()
    assert session.status == S.SECOND_REVIEW
    session = session_transition(
        session_id=session.pk,
        to_status=S.CONCERN_CONFIRMED,
        actor=instructor,
        reason="Agreed: a second person is visible from 10:02 to 10:06.",
    )
    assert session.status == S.CONCERN_CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_moves_of_one_session_let_exactly_one_through(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("Row locks need PostgreSQL; this runs in the PostgreSQL pass of the suite.")
    session = walk(world.session, None, S.CONSENTED, S.READY, S.STARTED)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def submit(target: str) -> None:
        barrier.wait()
        try:
            session_transition(session_id=session.pk, to_status=target, actor=None, reason="race")
            outcomes.append(f"ok:{target}")
        except TransitionError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(t,)) for t in (S.SUBMITTED, S.TIMED_OUT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"]
    assert SessionTransition.objects.filter(session=session, from_status=S.STARTED).count() == 1
