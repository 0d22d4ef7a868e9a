"""Group commit: a batch of chunks becomes durable in one transaction, each with its own outcome, and
nothing valid is lost when part of a batch is refused or the whole batch fails."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, OperationalError, connection, transaction

from exams.models import SessionStatus
from exams.services import session_transition
from proctor import db, storage
from recordings import ingest, services
from recordings.models import Recording, RecordingChunk
from recordings.selectors import recording_plaintext
from recordings.services import (
    ChunkRefused,
    ChunkStored,
    SealedChunk,
    chunk_seal,
    chunks_record,
    recording_finalise,
    recording_start,
)
from tests.conftest import World
from tests.media import make_webm, split

S = SessionStatus


@pytest.fixture
def parts(world: World) -> list[Recording]:
    """Three recordings of one started session: the webcam, the screen, and a second webcam part."""
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    student = world.users["student"]
    return [
        recording_start(session=world.session, kind=kind, part=part, mime_type="video/webm", actor=student)
        for kind, part in (("webcam", 0), ("screen", 0), ("webcam", 1))
    ]


@pytest.fixture(scope="module")
def pieces() -> list[bytes]:
    return split(make_webm(seconds=2.0), [700])[:10]


def sealed_all(parts: list[Recording], pieces: list[bytes]) -> list[SealedChunk]:
    return [chunk_seal(recording=r, seq=seq, data=data) for r in parts for seq, data in enumerate(pieces)]


async def send_all(committer: ingest.ChunkCommitter, recording: Recording, pieces: list[bytes]) -> list[Any]:
    """Every piece to the committer at once, as one socket's chunks arriving together: each one's
    outcome, or the exception its sender heard."""
    return await asyncio.gather(
        *(
            committer.append(recording=recording, seq=seq, data=data, client_time=None)
            for seq, data in enumerate(pieces)
        ),
        return_exceptions=True,
    )


def stored_names() -> set[str]:
    return set(RecordingChunk.objects.values_list("storage_name", flat=True))


def test_a_batch_over_several_recordings_costs_the_queries_of_one_chunk(
    parts: list[Recording], pieces: list[bytes], django_assert_num_queries: Any
) -> None:
    batch = sealed_all(parts, pieces)
    with django_assert_num_queries(5):  # savepoint, locked recordings with earlier digests, insert, counters, release
        outcomes = chunks_record(batch)
    assert [o.outcome for o in outcomes if isinstance(o, ChunkStored)] == ["stored"] * len(batch)
    for recording in parts:
        assert b"".join(recording_plaintext(recording)) == b"".join(pieces)


def test_a_batch_reads_the_digests_of_its_own_chunks_only(parts: list[Recording], pieces: list[bytes]) -> None:
    # Students are not in step: a batch holds one recording's chunk 3 and another's chunk 7. Reading every
    # stored chunk of each recording under any of the batch's numbers grows with the batch twice over (it
    # once took a tenth of the server's Python time at 1,000 students, converting keys of rows it did not need).
    webcam, screen, _ = parts
    chunks_record(sealed_all([webcam, screen], pieces))
    wanted = {(webcam.pk, 3), (screen.pk, 7), (screen.pk, len(pieces))}  # the last is not stored yet
    with transaction.atomic():
        locked, digests = services._recordings_locked(wanted)
    assert sorted(row[0] for row in locked) == sorted([webcam.pk, screen.pk])
    assert digests == {
        (webcam.pk, 3): RecordingChunk.objects.get(recording=webcam, seq=3).sha256,
        (screen.pk, 7): RecordingChunk.objects.get(recording=screen, seq=7).sha256,
    }


def test_each_chunk_of_a_mixed_batch_gets_its_own_outcome_and_only_the_stored_copies_stay(
    parts: list[Recording], pieces: list[bytes]
) -> None:
    webcam, screen, closed = parts
    first = chunks_record([chunk_seal(recording=webcam, seq=0, data=pieces[0])])
    assert first == [ChunkStored(webcam.pk, 0, "stored")]
    recording_finalise(recording_id=closed.pk, actor=None)
    batch = [
        chunk_seal(recording=webcam, seq=0, data=pieces[0]),  # re-sent after a reconnect
        chunk_seal(recording=webcam, seq=1, data=pieces[1]),
        chunk_seal(recording=webcam, seq=1, data=pieces[1]),  # re-sent within the same batch
        chunk_seal(recording=screen, seq=1, data=pieces[1]),
        chunk_seal(recording=screen, seq=1, data=pieces[2]),  # other bytes under a number just taken
        chunk_seal(recording=closed, seq=0, data=pieces[0]),  # finalised: nothing more is stored
    ]
    outcomes = chunks_record(batch)
    assert outcomes[:4] == [
        ChunkStored(webcam.pk, 0, "duplicate"),
        ChunkStored(webcam.pk, 1, "stored"),
        ChunkStored(webcam.pk, 1, "duplicate"),
        ChunkStored(screen.pk, 1, "stored"),
    ]
    assert isinstance(outcomes[4], ChunkRefused)
    assert outcomes[4].code == "conflict"
    assert isinstance(outcomes[5], ChunkRefused)
    assert outcomes[5].code == "closed"
    kept = {batch[1].storage_name, batch[3].storage_name}
    assert stored_names() == kept | {RecordingChunk.objects.get(recording=webcam, seq=0).storage_name}
    for chunk in batch:
        assert default_storage.exists(chunk.storage_name) == (chunk.storage_name in kept)
    assert b"".join(recording_plaintext(webcam)) == pieces[0] + pieces[1]
    assert b"".join(recording_plaintext(screen)) == pieces[1]


def test_a_batch_the_database_fails_leaves_no_row_and_no_copy_and_can_be_sent_again(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = sealed_all(parts[:1], pieces)
    monkeypatch.setattr(services, "_chunks_insert", lambda rows: (_ for _ in ()).throw(OperationalError("gone")))
    with pytest.raises(OperationalError):
        chunks_record(batch)
    assert not RecordingChunk.objects.exists()
    assert not any(default_storage.exists(chunk.storage_name) for chunk in batch)
    monkeypatch.undo()
    assert all(o.outcome == "stored" for o in chunks_record(sealed_all(parts[:1], pieces)))  # type: ignore[union-attr]
    assert b"".join(recording_plaintext(parts[0])) == b"".join(pieces)


def test_a_batch_that_loses_an_insert_race_is_recorded_chunk_by_chunk(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite takes no row locks: another process may store a number between the look and the insert.
    # The unique constraint catches it; the batch rolls back and each chunk is recorded on its own.
    real_insert = services._chunks_insert
    calls: list[int] = []

    def lose_the_first_race(rows: list[SealedChunk]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise IntegrityError("UNIQUE constraint failed: recordings_recordingchunk.recording_id, seq")
        real_insert(rows)

    monkeypatch.setattr(services, "_chunks_insert", lose_the_first_race)
    batch = sealed_all(parts[:2], pieces[:3])
    outcomes = chunks_record(batch)
    assert calls == [6, 1, 1, 1, 1, 1, 1]
    assert [o.outcome for o in outcomes if isinstance(o, ChunkStored)] == ["stored"] * 6
    assert stored_names() == {chunk.storage_name for chunk in batch}


@pytest.mark.django_db(transaction=True)
async def test_chunks_that_arrive_while_a_batch_commits_are_committed_together_and_none_is_lost(
    parts: list[Recording], pieces: list[bytes]
) -> None:
    committer = ingest.committer()
    # Hold the commit thread, as a slow commit would, while the first chunk waits in it and the rest arrive.
    release = threading.Event()
    holding = asyncio.get_running_loop().run_in_executor(ingest._commit_thread, release.wait, 30)
    chunks = [(recording, seq, data) for recording in parts for seq, data in enumerate(pieces)]
    first = asyncio.ensure_future(
        committer.append(recording=chunks[0][0], seq=chunks[0][1], data=chunks[0][2], client_time=None)
    )
    for _ in range(500):
        await asyncio.sleep(0.01)
        if committer.committing is not None and not committer.waiting:  # the first is in the commit's batch
            break
    sends = [
        asyncio.ensure_future(committer.append(recording=recording, seq=seq, data=data, client_time=None))
        for recording, seq, data in chunks[1:]
    ]
    for _ in range(500):
        await asyncio.sleep(0.01)
        if len(committer.waiting) == len(sends):  # all sealed, waiting for the batch before them
            break
    release.set()
    await holding
    outcomes = [await first, *await asyncio.gather(*sends)]
    assert [o.outcome for o in outcomes] == ["stored"] * len(chunks)
    assert committer.batches == 2
    for recording in parts:
        assert b"".join(await sync_to_async(lambda r=recording: list(recording_plaintext(r)))()) == b"".join(pieces)


@pytest.mark.django_db(transaction=True)
async def test_when_a_batch_fails_every_sender_hears_it_and_no_copy_is_left(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed: list[str] = []
    real_seal = services.chunk_seal

    def seal_and_note(**kwargs: Any) -> SealedChunk:
        chunk = real_seal(**kwargs)
        sealed.append(chunk.storage_name)
        return chunk

    def database_down(rows: list[SealedChunk]) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(ingest, "chunk_seal", seal_and_note)
    monkeypatch.setattr(services, "_chunks_insert", database_down)
    committer = ingest.committer()
    results = await send_all(committer, parts[0], pieces)
    assert all(isinstance(result, OperationalError) for result in results)
    assert len(sealed) == len(pieces)
    assert not any(default_storage.exists(name) for name in sealed)
    assert not await RecordingChunk.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_refused_chunk_raises_for_its_sender_only(parts: list[Recording], pieces: list[bytes]) -> None:
    committer = ingest.committer()
    await committer.append(recording=parts[0], seq=1, data=pieces[1], client_time=None)
    results = await asyncio.gather(
        committer.append(recording=parts[0], seq=1, data=pieces[2], client_time=None),
        committer.append(recording=parts[0], seq=2, data=pieces[2], client_time=None),
        return_exceptions=True,
    )
    assert isinstance(results[0], ChunkRefused)
    assert results[0].code == "conflict"
    assert results[1] == ChunkStored(parts[0].pk, 2, "stored")


@pytest.mark.django_db(transaction=True)
async def test_a_chunk_refused_when_sealed_answers_its_sender_only_and_the_rest_of_the_batch_is_stored(
    parts: list[Recording], pieces: list[bytes]
) -> None:
    committer = ingest.committer()
    results = await asyncio.gather(
        committer.append(recording=parts[0], seq=0, data=b"not a webm file", client_time=None),
        *(
            committer.append(recording=parts[1], seq=seq, data=data, client_time=None)
            for seq, data in enumerate(pieces)
        ),
        return_exceptions=True,
    )
    assert isinstance(results[0], ChunkRefused)
    assert results[0].code == "not_webm"
    assert results[1:] == [ChunkStored(parts[1].pk, seq, "stored") for seq in range(len(pieces))]
    assert committer.batches == 1  # sealed together, committed together
    assert b"".join(await sync_to_async(lambda: list(recording_plaintext(parts[1])))()) == b"".join(pieces)
    assert not await RecordingChunk.objects.filter(recording=parts[0]).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_chunk_that_cannot_be_written_fails_its_sender_only(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_seal = services.chunk_seal

    def disk_full_for_chunk_one(**kwargs: Any) -> SealedChunk:
        if kwargs["seq"] == 1:
            raise OSError(28, "No space left on device")
        return real_seal(**kwargs)

    monkeypatch.setattr(ingest, "chunk_seal", disk_full_for_chunk_one)
    committer = ingest.committer()
    results = await send_all(committer, parts[0], pieces)
    assert isinstance(results[1], OSError)
    assert [r for i, r in enumerate(results) if i != 1] == [
        ChunkStored(parts[0].pk, seq, "stored") for seq in range(len(pieces)) if seq != 1
    ]
    monkeypatch.undo()
    # Sent again once there is room, it is stored, and the recording is whole.
    assert await committer.append(recording=parts[0], seq=1, data=pieces[1], client_time=None) == ChunkStored(
        parts[0].pk, 1, "stored"
    )
    assert b"".join(await sync_to_async(lambda: list(recording_plaintext(parts[0])))()) == b"".join(pieces)


@pytest.mark.django_db(transaction=True)
async def test_a_chunk_whose_socket_closed_while_it_was_sealed_is_still_stored_with_its_row(
    parts: list[Recording], pieces: list[bytes]
) -> None:
    committer = ingest.committer()
    send = asyncio.ensure_future(committer.append(recording=parts[0], seq=0, data=pieces[0], client_time=None))
    await asyncio.sleep(0)  # arrived; the sealing has begun
    send.cancel()
    for _ in range(500):
        await asyncio.sleep(0.01)
        if committer.batches and committer.committing is not None and committer.committing.done():
            break
    (chunk,) = [c async for c in RecordingChunk.objects.filter(recording=parts[0])]
    assert default_storage.exists(chunk.storage_name)
    # The page sends it again after reconnecting, and hears that it is already stored.
    assert await committer.append(recording=parts[0], seq=0, data=pieces[0], client_time=None) == ChunkStored(
        parts[0].pk, 0, "duplicate"
    )


@pytest.mark.django_db(transaction=True)
async def test_a_database_connection_that_broke_is_replaced_and_no_chunk_is_lost(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's connections do not break; this runs in the PostgreSQL pass of the suite.")
    committer = ingest.committer()
    loop = asyncio.get_running_loop()

    def break_the_commit_threads_connection() -> None:
        connection.ensure_connection()
        connection.connection.close()  # as a restarted server would leave it

    await committer.append(recording=parts[0], seq=0, data=pieces[0], client_time=None)
    # Just after a batch, the next one uses the connection unchecked: if it broke, that batch fails, its
    # senders hear it (and send again), and the broken connection is dropped.
    await loop.run_in_executor(ingest._commit_thread, break_the_commit_threads_connection)
    with pytest.raises(Exception, match="closed"):
        await committer.append(recording=parts[0], seq=1, data=pieces[1], client_time=None)
    assert await committer.append(recording=parts[0], seq=1, data=pieces[1], client_time=None) == ChunkStored(
        parts[0].pk, 1, "stored"
    )
    # After a quiet second the connection is checked first, so a connection that broke meanwhile costs nothing.
    await loop.run_in_executor(ingest._commit_thread, break_the_commit_threads_connection)
    monkeypatch.setattr(db, "RECHECK_AFTER", 0.0)
    assert await committer.append(recording=parts[0], seq=2, data=pieces[2], client_time=None) == ChunkStored(
        parts[0].pk, 2, "stored"
    )
    assert b"".join(await sync_to_async(lambda: list(recording_plaintext(parts[0])))()) == b"".join(pieces[:3])


@pytest.mark.django_db(transaction=True)  # the commit thread's connection handling closes the connection
def test_a_batch_is_made_durable_by_one_sync_before_its_rows_are_written(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_syncfs, real_record = os.fsync, storage._syncfs, ingest.chunks_record

    def syncfs(path: str) -> None:
        events.append(f"syncfs {Path(path) == Path(settings.MEDIA_ROOT)}")
        real_syncfs(path)

    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(storage, "_syncfs", syncfs)
    monkeypatch.setattr(ingest, "chunks_record", lambda chunks: (events.append("rows"), real_record(chunks))[1])
    batch = [chunk_seal(recording=parts[0], seq=seq, data=data, durable=False) for seq, data in enumerate(pieces)]
    assert events == []  # written, not yet synced one by one
    assert all(o.outcome == "stored" for o in ingest._record(batch))  # type: ignore[union-attr]
    assert events == ["syncfs True", "rows"]
    events.clear()
    chunk_seal(recording=parts[1], seq=0, data=pieces[0])  # alone, a chunk is synced with its folder
    assert events == ["fsync", "fsync"]


def test_past_its_quota_a_session_stores_nothing_more_and_what_came_before_is_kept(
    parts: list[Recording], pieces: list[bytes]
) -> None:
    webcam, screen, _ = parts
    session = webcam.session
    session.refresh_from_db()
    quota = services.session_quota_bytes(session.started_at, session.deadline)
    assert quota > 0
    Recording.objects.filter(pk=screen.pk).update(stored_bytes=quota - len(pieces[0]) - 10)  # the screen used it
    batch = [
        chunk_seal(recording=webcam, seq=0, data=pieces[0]),  # fits, just
        chunk_seal(recording=webcam, seq=1, data=pieces[1]),
        chunk_seal(recording=screen, seq=0, data=pieces[0]),
    ]
    outcomes = chunks_record(batch)
    assert outcomes[0] == ChunkStored(webcam.pk, 0, "stored")
    for refused in outcomes[1:]:
        assert isinstance(refused, ChunkRefused)
        assert refused.code == "quota"
        assert "nothing more is stored" in str(refused)
    assert [default_storage.exists(chunk.storage_name) for chunk in batch] == [True, False, False]
    assert stored_names() == {batch[0].storage_name}
    webcam.refresh_from_db()
    assert webcam.stored_bytes == len(pieces[0])
    assert b"".join(recording_plaintext(webcam)) == pieces[0]


def test_each_recording_counts_the_bytes_it_stored_once(parts: list[Recording], pieces: list[bytes]) -> None:
    batch = sealed_all(parts[:2], pieces[:4])
    chunks_record(batch)
    chunks_record(sealed_all(parts[:2], pieces[:4]))  # all re-sent: duplicates count nothing
    counted = dict(Recording.objects.filter(pk__in=[p.pk for p in parts]).values_list("pk", "stored_bytes"))
    expected = sum(len(piece) for piece in pieces[:4])
    assert counted == {parts[0].pk: expected, parts[1].pk: expected, parts[2].pk: 0}


def test_an_error_part_way_through_the_chunk_by_chunk_path_keeps_the_chunks_already_recorded(
    parts: list[Recording], pieces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch loses an insert race, the first chunk is then recorded on its own, and the database
    # goes away before the second: the first chunk's row and its bytes must both stay.
    real_insert = services._chunks_insert
    calls: list[int] = []

    def race_then_outage(rows: list[SealedChunk]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise IntegrityError("UNIQUE constraint failed: recordings_recordingchunk.recording_id, seq")
        if len(calls) == 3:
            raise OperationalError("server closed the connection unexpectedly")
        real_insert(rows)

    monkeypatch.setattr(services, "_chunks_insert", race_then_outage)
    batch = sealed_all(parts[:1], pieces[:3])
    with pytest.raises(OperationalError):
        chunks_record(batch)
    assert stored_names() == {batch[0].storage_name}
    assert [default_storage.exists(chunk.storage_name) for chunk in batch] == [True, False, False]
    monkeypatch.undo()
    assert b"".join(recording_plaintext(parts[0])) == pieces[0]
