"""Stream starts in batches: the streams that sockets ask to start while a batch is being started are
created and audited together, in one transaction with one append to the audit chain; each socket still
hears about its own stream, and nothing is half done when a batch fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from exams.models import Course, ExamSession, Institution, SessionStatus
from exams.services import session_transition
from proctor.audit import audit_verify
from proctor.keys import data_key_material, period_for
from proctor.models import AuditEvent, AuditHead, AuditSubject, DataKey
from recordings import ingest, services
from recordings.models import Recording
from recordings.services import (
    ChunkRefused,
    StreamStart,
    chunk_seal,
    chunks_record,
    recording_start,
    recordings_due_at,
    recordings_start,
    stored_chunk_counts,
)
from tests.conftest import World

S = SessionStatus


@pytest.fixture
def started(world: World) -> World:
    for session in (world.session, world.other_session):
        for status in (S.CONSENTED, S.READY, S.STARTED):
            session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    return world


def asks(world: World) -> list[StreamStart]:
    """What two students' pages ask when they open: a webcam and a screen stream each."""
    return [
        StreamStart(session, kind, 0, "video/webm", world.users[user])
        for session, user in ((world.session, "student"), (world.other_session, "other_student"))
        for kind in ("webcam", "screen")
    ]


def entries_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq, action="recording.start").order_by("seq"))


def head_seq() -> int:
    head = AuditHead.objects.filter(id=1).first()
    return head.seq if head else 0


def test_a_batch_of_starts_is_audited_stream_by_stream_with_one_append_to_the_chain(started: World) -> None:
    before = head_seq()
    with CaptureQueriesContext(connection) as queries:
        outcomes = recordings_start(asks(started))
    assert all(isinstance(outcome, Recording) for outcome in outcomes)
    recordings = [outcome for outcome in outcomes if isinstance(outcome, Recording)]
    assert [(r.session_id, r.kind) for r in recordings] == [(s.session.pk, s.kind) for s in asks(started)]
    assert len({r.data_key_id for r in recordings}) == 4  # a data key of its own each
    # The chain's head is read (locked) and moved once for the four entries, not four times.
    assert len([q for q in queries.captured_queries if AuditHead._meta.db_table in q["sql"]]) == 2
    entries = entries_since(before)
    assert [e.target_id for e in entries] == [str(r.pk) for r in recordings]
    assert [e.actor_id for e in entries] == [started.users[u].pk for u in ("student",) * 2 + ("other_student",) * 2]
    subjects = dict(AuditSubject.objects.filter(seq__gt=before).values_list("seq", "subject_id"))
    assert [subjects[e.seq] for e in entries] == [e.actor_id for e in entries]  # whose data each is
    assert audit_verify().ok


def test_a_batch_of_new_streams_is_written_in_one_insert_of_keys_and_one_of_recordings(started: World) -> None:
    # The sessions as a socket holds them: with their exams, not their courses or institutions.
    ask = [
        StreamStart(ExamSession.objects.select_related("exam").get(pk=s.session.pk), s.kind, 0, s.mime_type, s.actor)
        for s in asks(started)
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = recordings_start(ask)
    assert all(isinstance(outcome, Recording) for outcome in outcomes)
    sql = [q["sql"] for q in queries.captured_queries]

    def count(verb: str, model: type[Any]) -> int:
        return len([q for q in sql if f'{verb} "{model._meta.db_table}"' in q])

    assert count("INSERT INTO", DataKey) == 1
    assert count("INSERT INTO", Recording) == 1
    # When the recordings fall due is read for the whole batch: one query for courses, one for institutions.
    assert count("FROM", Course) == 1
    assert count("FROM", Institution) == 1
    for outcome, ask_ in zip(outcomes, ask, strict=True):
        assert isinstance(outcome, Recording)
        assert outcome.data_key.kek_id == period_for(recordings_due_at(ask_.session))
        assert len(data_key_material(outcome.data_key)) == 32


def test_a_socket_that_starts_again_reads_its_streams_and_their_chunks_without_their_sessions(started: World) -> None:
    recordings_start(asks(started))
    with CaptureQueriesContext(connection) as queries:
        outcomes = recordings_start(asks(started))
        stored_chunk_counts([outcome.pk for outcome in outcomes if isinstance(outcome, Recording)])
    # The models' orderings would join each recording's session only to sort by it, or to drop it unsorted.
    assert [q["sql"] for q in queries.captured_queries if ExamSession._meta.db_table in q["sql"]] == []
    assert [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]] == []


def test_a_part_asked_for_twice_in_one_batch_is_started_once(started: World) -> None:
    before = head_seq()
    ask = asks(started)[:1] * 3
    outcomes = recordings_start(ask)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert Recording.objects.filter(session=started.session).count() == 1
    assert len(entries_since(before)) == 1


def test_a_stream_started_before_is_returned_as_it_is_and_not_audited_again(started: World) -> None:
    first = recording_start(session=started.session, kind="webcam", mime_type="video/webm", actor=None)
    chunks_record([chunk_seal(recording=first, seq=0, data=b"\x1aE\xdf\xa3 first chunk")])
    before = head_seq()
    outcomes = recordings_start(asks(started))
    assert outcomes[0] == first
    assert len(entries_since(before)) == 3  # the three new streams only
    assert audit_verify().ok


def test_an_invalid_start_is_refused_on_its_own_and_the_rest_start(started: World) -> None:
    ask = [
        StreamStart(started.session, "webcam", 0, "video/webm", None),
        StreamStart(started.session, "microphone", 0, "audio/webm", None),  # not a stream Invigil records
        StreamStart(started.session, "screen", services.MAX_PARTS, "video/webm", None),
        StreamStart(started.session, "screen", 0, "video/webm", None),
    ]
    outcomes = recordings_start(ask)
    assert isinstance(outcomes[0], Recording)
    assert isinstance(outcomes[1], ChunkRefused)
    assert outcomes[1].code == "unknown_stream"
    assert isinstance(outcomes[2], ChunkRefused)
    assert outcomes[2].code == "bad_part"
    assert isinstance(outcomes[3], Recording)
    assert Recording.objects.filter(session=started.session).count() == 2


def test_a_stream_another_server_started_meanwhile_is_used_and_not_audited_twice(
    started: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two servers look at the same moment; the other one creates the webcam stream first.
    winner = recording_start(session=started.session, kind="webcam", mime_type="video/webm", actor=None)
    monkeypatch.setattr(services, "_recordings_found", lambda wanted: {})
    before = head_seq()
    outcomes = recordings_start(asks(started)[:2])
    assert outcomes[0] == winner
    assert isinstance(outcomes[1], Recording)
    assert [e.target_id for e in entries_since(before)] == [str(outcomes[1].pk)]
    assert Recording.objects.filter(session=started.session).count() == 2
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
async def test_starts_that_arrive_together_are_started_in_one_batch_and_each_socket_hears_its_own(
    started: World,
) -> None:
    starter = ingest.starter()
    before = starter.batches
    outcomes = await asyncio.gather(*(starter.start(ask) for ask in asks(started)))
    assert starter.batches == before + 1
    assert [(r.session_id, r.kind, stored) for r, stored in outcomes] == [
        (s.session.pk, s.kind, 0) for s in asks(started)
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_socket_that_starts_again_hears_how_many_chunks_its_stream_holds(started: World) -> None:
    starter = ingest.starter()
    recording, stored = await starter.start(asks(started)[0])
    assert stored == 0
    await ingest.committer().append(recording=recording, seq=0, data=b"\x1aE\xdf\xa3 chunk 0", client_time=None)
    await ingest.committer().append(recording=recording, seq=1, data=b"chunk 1", client_time=None)
    again, stored = await starter.start(asks(started)[0])
    assert (again, stored) == (recording, 2)


@pytest.mark.django_db(transaction=True)
async def test_a_refused_start_raises_for_its_socket_only(started: World) -> None:
    starter = ingest.starter()
    good, bad = asks(started)[0], StreamStart(started.session, "microphone", 0, "audio/webm", None)
    results: list[Any] = await asyncio.gather(starter.start(good), starter.start(bad), return_exceptions=True)
    assert isinstance(results[0][0], Recording)
    assert isinstance(results[1], ChunkRefused)


@pytest.mark.django_db(transaction=True)
async def test_when_a_batch_of_starts_fails_every_socket_hears_it_and_nothing_is_left_half_done(
    started: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def chain_unavailable(entries: list[Any]) -> list[Any]:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "audit_append", chain_unavailable)
    before = await asyncio.to_thread(head_seq)
    results = await asyncio.gather(*(ingest.starter().start(ask) for ask in asks(started)), return_exceptions=True)
    assert all(isinstance(result, OperationalError) for result in results)

    def left() -> tuple[int, int]:
        return Recording.objects.count(), head_seq()

    assert await asyncio.to_thread(left) == (0, before)  # no recording without its audit entry
    monkeypatch.undo()
    outcomes = await asyncio.gather(*(ingest.starter().start(ask) for ask in asks(started)))
    assert len(outcomes) == 4
