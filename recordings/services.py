"""Writes to recordings: start a stream, append a chunk (encrypted, durable, idempotent), finalise.

The only code, with the selectors' reader, that encrypts or decrypts media.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Literal, cast

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Field, prefetch_related_objects
from django.utils import timezone

from exams.lifecycle import ATTEMPT_ENDED, UPLOADING
from exams.models import ExamSession, SessionStatus
from proctor import crypto
from proctor.audit import audit_append, audit_entry, audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Conflict
from proctor.keys import data_key_create, data_key_material, data_keys_create
from proctor.models import DataKey
from proctor.outbox import task_queue_after_commit
from proctor.storage import save_for_batch
from recordings.models import (
    BrowserSignal,
    Recording,
    RecordingChunk,
    RecordingGap,
    RecordingStatus,
    SignalKind,
    StreamKind,
)
from recordings.remux import IterReader, remux_seekable

#: A MediaRecorder chunk of a few seconds at ~500 kbit/s is well under 1 MiB; this bounds memory.
MAX_CHUNK_BYTES = 4 * 1024 * 1024
PLAYBACK_TASK = "recordings.make_playback_copy"
#: The analysis app's task, queued by name: recordings must not import the app above it.
ANALYSIS_TASK = "analysis.analyse_session"
ANALYSIS_AHEAD_TASK = "analysis.analyse_ahead"
#: Parts per stream (one per recorder start, e.g. after a reload); far above any honest use.
MAX_PARTS = 200
#: Sequence numbers for a 24-hour exam with one-second chunks fit easily.
MAX_SEQ = 1_000_000
logger = logging.getLogger(__name__)

#: The EBML magic that every WebM file (so every first chunk) starts with.
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


class ChunkRefused(Conflict):
    """A chunk the server will not store; ``code`` is stable for clients, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ChunkStored:
    recording_id: Any
    seq: int
    outcome: Literal["stored", "duplicate"]


def chunk_label(recording_id: Any, seq: int) -> bytes:
    """Associated data that binds a sealed chunk to its recording and position."""
    return f"recording:{recording_id}:chunk:{seq}".encode()


def chunk_storage_name(recording: Recording, seq: int) -> str:
    # A fresh suffix per write: two writers of one chunk never share (or delete) an object.
    return f"recordings/{recording.session_id}/{recording.id}/{seq:08d}-{secrets.token_hex(6)}.sealed"


def recordings_due_at(session: ExamSession) -> datetime:
    """When a session's recordings fall due for purging: the exam's close plus its institution's recording
    retention. (The retention job keeps them longer under a legal hold, a review or an appeal window.)"""
    exam = session.exam
    return exam.closes_at + timedelta(days=exam.course.institution.recording_retention_days)


@dataclass(frozen=True)
class StreamStart:
    """One part of one stream that a socket asks to start."""

    session: ExamSession
    kind: str
    part: int
    mime_type: str
    actor: Any


def _stream_start_problem(kind: str, part: int) -> ChunkRefused | None:
    if kind not in StreamKind.values:
        return ChunkRefused("unknown_stream", f"{kind!r} is not a stream Invigil records.")
    if not 0 <= part < MAX_PARTS:
        return ChunkRefused("bad_part", f"A stream has at most {MAX_PARTS} parts.")
    return None


def recordings_start(starts: Sequence[StreamStart]) -> list[Recording | ChunkRefused]:
    """Start parts of streams, each created with its own data key on first use and returned as it is after
    that; an invalid one is refused on its own. The new ones are created and audited in one transaction, with
    one INSERT of their data keys, one of their rows and one append to the audit chain for all of them: every
    sign-in of an exam that starts at nine o'clock otherwise queues on the chain's lock, one commit after
    another, and makes a round of queries of its own (bench/ingest.py, the ramp)."""
    outcomes: list[Recording | ChunkRefused | None] = [_stream_start_problem(s.kind, s.part) for s in starts]
    wanted = {(s.session.pk, s.kind, s.part) for s, outcome in zip(starts, outcomes, strict=True) if outcome is None}
    found = _recordings_found(wanted)
    new: dict[tuple[Any, str, int], StreamStart] = {}  # the first start of each part that does not exist yet
    for start, outcome in zip(starts, outcomes, strict=True):
        key = (start.session.pk, start.kind, start.part)
        if outcome is None and key not in found:
            new.setdefault(key, start)
    with transaction.atomic():
        created = _recordings_create(list(new.values()))
        audit_append(
            [
                audit_entry(
                    actor=start.actor,
                    action=AuditAction.RECORDING_START,
                    target=recording,
                    detail={"kind": start.kind, "part": start.part},
                )
                for start, (recording, made_here) in zip(new.values(), created, strict=True)
                if made_here
            ]
        )
    found.update((key, recording) for key, (recording, _) in zip(new, created, strict=True))
    for index, start in enumerate(starts):
        if outcomes[index] is None:
            outcomes[index] = found[start.session.pk, start.kind, start.part]
    # Every slot is filled by now: refused before the transaction, or started in it.
    return cast(list[Recording | ChunkRefused], outcomes)


def _recordings_create(starts: Sequence[StreamStart]) -> list[tuple[Recording, bool]]:
    """Create a recording for each of these parts, all in one go, and say of each whether it was made here.
    If another server started one of them at the same moment, each is made on its own instead, and the one
    that won is used."""
    if not starts:
        return []
    # When the recordings fall due: one query for each relation of the sessions that is not loaded yet.
    prefetch_related_objects([start.session for start in starts], "exam__course__institution")
    try:
        with transaction.atomic():
            data_keys = data_keys_create(
                purpose="recording", due_ats=[recordings_due_at(start.session) for start in starts]
            )
            recordings = Recording.objects.bulk_create(
                [_recording_for(start, data_key) for start, data_key in zip(starts, data_keys, strict=True)]
            )
        return [(recording, True) for recording in recordings]
    except IntegrityError:
        return [_recording_create_alone(start) for start in starts]


def _recording_for(start: StreamStart, data_key: DataKey) -> Recording:
    return Recording(
        session=start.session, kind=start.kind, part=start.part, mime_type=start.mime_type[:100], data_key=data_key
    )


def _recording_create_alone(start: StreamStart) -> tuple[Recording, bool]:
    try:
        with transaction.atomic():
            data_key = data_key_create(purpose="recording", due_at=recordings_due_at(start.session))
            recording = _recording_for(start, data_key)
            recording.save(force_insert=True)
            return recording, True
    except IntegrityError:  # another server started the same part at once: use the one that won
        recording = Recording.objects.select_related("data_key").get(
            session=start.session, kind=start.kind, part=start.part
        )
        return recording, False


def _recordings_found(wanted: set[tuple[Any, str, int]]) -> dict[tuple[Any, str, int], Recording]:
    """The recordings of these (session, stream, part) that exist, in one query. With their data keys:
    chunks are sealed on threads that never touch the database (recordings.ingest)."""
    recordings = (
        Recording.objects.select_related("data_key").filter(session_id__in={key[0] for key in wanted}).order_by()
    )
    return {key: r for r in recordings if (key := (r.session_id, r.kind, r.part)) in wanted}


def recording_start(*, session: ExamSession, kind: str, mime_type: str, actor: Any, part: int = 0) -> Recording:
    """One part of one stream of a session, created with its own data key on first use."""
    (outcome,) = recordings_start([StreamStart(session, kind, part, mime_type, actor)])
    if isinstance(outcome, ChunkRefused):
        raise outcome
    return outcome


def stored_chunk_counts(recording_ids: Sequence[Any]) -> dict[Any, int]:
    """How many chunks each recording holds, in one query (a socket that reconnects resumes after them)."""
    counts = dict(
        RecordingChunk.objects.filter(recording_id__in=recording_ids)
        .order_by()  # the model's ordering would join each chunk's recording and session, only to drop them
        .values_list("recording_id")
        .annotate(n=models.Count("seq"))
        .values_list("recording_id", "n")
    )
    return {recording_id: counts.get(recording_id, 0) for recording_id in recording_ids}


@dataclass(frozen=True)
class SealedChunk:
    """A chunk encrypted and durably stored under a name of its own, but not yet part of its recording:
    its row does that (chunks_record). Until then nothing refers to it."""

    recording: Recording
    seq: int
    storage_name: str
    size: int
    sha256: str
    client_time: datetime | None


def chunk_check(*, seq: int, data: bytes) -> None:
    """Refuse what no recording may hold, before anything is encrypted or written."""
    if not 0 <= seq < MAX_SEQ:
        raise ChunkRefused("bad_seq", f"Chunk numbers run from 0 to {MAX_SEQ - 1}.")
    if not data:
        raise ChunkRefused("empty", "The chunk is empty.")
    if len(data) > MAX_CHUNK_BYTES:
        raise ChunkRefused("too_large", f"A chunk may hold at most {MAX_CHUNK_BYTES // (1024 * 1024)} MiB.")
    if seq == 0 and not data.startswith(WEBM_MAGIC):
        raise ChunkRefused("not_webm", "The first chunk of a stream must start a WebM file.")


def chunk_seal(
    *, recording: Recording, seq: int, data: bytes, client_time: datetime | None = None, durable: bool = True
) -> SealedChunk:
    """Check, encrypt and store one chunk's bytes. No database: many of these run side by side, and
    chunks_record then makes a batch of them part of their recordings in one transaction.

    Durable on return, unless ``durable`` is false: then the caller makes a whole batch durable at once
    (proctor.storage.batch_make_durable) before recording it.
    """
    chunk_check(seq=seq, data=data)
    # A clock this wrong says nothing: the chunk's time is unknown, and its receive time stands in (selectors).
    client_time = believable_client_time(client_time, timezone.now())
    sealed = crypto.seal(data_key_material(recording.data_key), label=chunk_label(recording.id, seq), plaintext=data)
    name = (
        default_storage.save(chunk_storage_name(recording, seq), ContentFile(sealed))
        if durable
        else save_for_batch(default_storage, chunk_storage_name(recording, seq), sealed)
    )
    return SealedChunk(recording, seq, name, len(data), hashlib.sha256(data).hexdigest(), client_time)


def chunks_record(chunks: Sequence[SealedChunk]) -> list[ChunkStored | ChunkRefused]:
    """Group commit: make a batch of sealed chunks part of their recordings in one transaction, with one
    row lock per recording, one look for numbers already stored and one insert, whatever the batch's
    size. Returns each chunk's outcome in order; a chunk that is refused or already stored has its own
    sealed copy deleted. Only once this returns is a stored chunk safe to acknowledge.

    If another writer stores one of the same numbers between the look and the insert (SQLite takes no
    row locks), the batch is rolled back and each chunk recorded on its own instead. When an error ends
    it early, the copies of the chunks recorded so far stay; only the others are deleted.
    """
    outcomes: list[ChunkStored | ChunkRefused] = []
    try:
        try:
            with transaction.atomic():
                batch = _chunks_record_locked(chunks)
            outcomes = batch
        except IntegrityError:
            for chunk in chunks:
                outcomes.append(_chunk_record_alone(chunk))
    finally:
        for index, chunk in enumerate(chunks):
            outcome = outcomes[index] if index < len(outcomes) else None
            if not (isinstance(outcome, ChunkStored) and outcome.outcome == "stored"):
                default_storage.delete(chunk.storage_name)  # our own uniquely named copy, never another writer's
    return outcomes


def _chunk_record_alone(chunk: SealedChunk) -> ChunkStored | ChunkRefused:
    """One chunk in a transaction of its own; if another writer stores its number meanwhile, once more,
    to compare with what won."""
    try:
        with transaction.atomic():
            (outcome,) = _chunks_record_locked([chunk])
    except IntegrityError:
        with transaction.atomic():
            (outcome,) = _chunks_record_locked([chunk])
    return outcome


QUOTA_MESSAGE = (
    "This exam session has stored as much recording as its length allows, so nothing more is stored. "
    "Tell your instructor: the recording may be faulty."
)


def session_quota_bytes(started_at: datetime | None, deadline: datetime | None) -> int:
    """What a session may store, all its streams together: INVIGIL_RECORDING_QUOTA_KBIT over its attempt,
    plus five minutes (a day, for an attempt without a deadline)."""
    seconds = (deadline - started_at).total_seconds() if started_at and deadline else 24 * 3600
    return int(settings.INVIGIL_RECORDING_QUOTA_KBIT * 125 * (max(seconds, 0.0) + 300))


def _chunks_record_locked(chunks: Sequence[SealedChunk]) -> list[ChunkStored | ChunkRefused]:
    # The row locks order these appends against finalisation: no chunk is stored after it. After submit or
    # time-out the browser still uploads what it holds, until the recording is finalised.
    locked, stored = _recordings_locked({(chunk.recording.pk, chunk.seq) for chunk in chunks})
    open_ids: set[Any] = set()
    session_of: dict[Any, Any] = {}
    room: dict[Any, int] = {}  # bytes each session may still store
    for pk, status, session_id, session_status, started_at, deadline, used in locked:
        if status == RecordingStatus.RECORDING and session_status in UPLOADING:
            open_ids.add(pk)
        session_of[pk] = session_id
        room[session_id] = session_quota_bytes(started_at, deadline) - (used or 0)
    outcomes: list[ChunkStored | ChunkRefused] = []
    rows: list[SealedChunk] = []
    added: dict[Any, int] = {}
    for chunk in chunks:
        recording_id = chunk.recording.pk
        if recording_id not in open_ids:
            outcomes.append(ChunkRefused("closed", "This recording is closed, so nothing more is stored."))
            continue
        earlier = stored.get((recording_id, chunk.seq))
        if earlier is not None:  # stored before, or earlier in this batch (a re-sent chunk)
            outcomes.append(_duplicate_or_conflict(recording_id, chunk.seq, earlier, chunk.sha256))
            continue
        session_id = session_of[recording_id]
        if chunk.size > room[session_id]:
            outcomes.append(ChunkRefused("quota", QUOTA_MESSAGE))
            continue
        room[session_id] -= chunk.size
        added[recording_id] = added.get(recording_id, 0) + chunk.size
        stored[recording_id, chunk.seq] = chunk.sha256
        rows.append(chunk)
        outcomes.append(ChunkStored(recording_id, chunk.seq, "stored"))
    if rows:
        _chunks_insert(rows)
        _stored_bytes_add(added)
    return outcomes


# The batch's own queries are written out in SQL: built by the ORM, they were the largest part of a
# chunk's handling in the server (a third of its Python time at 1,000 students, sampled with py-spy), and
# every value still goes through its field's conversion for the database in use. They run inside
# _chunks_record_locked's transaction.


def _column(model: type[models.Model], name: str) -> tuple[Field[Any, Any], str]:
    """A concrete field of the model and its quoted column."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    assert field.column
    return field, connection.ops.quote_name(field.column)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _converted(rows: list[tuple[Any, ...]], fields: Sequence[Field[Any, Any]]) -> list[tuple[Any, ...]]:
    """Rows read by SQL, each value converted as the ORM would convert its field's (SQLite's dates and
    keys come back as text)."""
    steps = []
    for field in fields:
        column = field.get_col(field.model._meta.db_table)
        steps.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
    if not any(converters for _, converters in steps):
        return rows
    out = []
    for row in rows:
        values = list(row)
        for index, (column, converters) in enumerate(steps):
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        out.append(tuple(values))
    return out


def _recordings_locked(wanted: set[tuple[Any, int]]) -> tuple[list[tuple[Any, ...]], dict[tuple[Any, int], str]]:
    """Lock the recordings of these (recording, seq) chunks, in key order so that two batches that share
    recordings never wait on each other in a circle, and read what deciding each chunk needs, in one query:
    for each recording (its key, status and session, the session's status, start and deadline, and the bytes
    all of the session's recordings hold), and the digest of each of these chunks already stored."""
    pk, key = _column(Recording, "id")
    status, status_column = _column(Recording, "status")
    _, session_column = _column(Recording, "session")
    _, stored_bytes = _column(Recording, "stored_bytes")
    session_status, session_status_column = _column(ExamSession, "status")
    started_at, started_at_column = _column(ExamSession, "started_at")
    deadline, deadline_column = _column(ExamSession, "deadline")
    session, session_key = _column(ExamSession, "id")
    _, chunk_recording = _column(RecordingChunk, "recording")
    _, seq_column = _column(RecordingChunk, "seq")
    _, sha256_column = _column(RecordingChunk, "sha256")
    recordings, sessions, chunks = _table(Recording), _table(ExamSession), _table(RecordingChunk)
    lock = " FOR UPDATE OF r" if connection.features.has_select_for_update_of else ""
    ids = {pk.get_db_prep_value(recording_id, connection) for recording_id, _ in wanted}
    seqs = {seq for _, seq in wanted}
    pairs = [value for recording_id, seq in wanted for value in (pk.get_db_prep_value(recording_id, connection), seq)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.{key}, r.{status_column}, r.{session_column}, s.{session_status_column}, "  # noqa: S608
            f"s.{started_at_column}, s.{deadline_column}, "
            f"(SELECT SUM(o.{stored_bytes}) FROM {recordings} o WHERE o.{session_column} = r.{session_column}), "
            f"c.{seq_column}, c.{sha256_column} "
            f"FROM {recordings} r INNER JOIN {sessions} s ON s.{session_key} = r.{session_column} "
            f"LEFT OUTER JOIN {chunks} c ON c.{chunk_recording} = r.{key} "
            # The seqs alone let the (recording, seq) index find the chunks; the pairs keep only these chunks,
            # not every chunk of each recording under any of the batch's numbers (students are not in step).
            f"AND c.{seq_column} IN ({', '.join(['%s'] * len(seqs))}) "
            f"AND (c.{chunk_recording}, c.{seq_column}) IN ({', '.join(['(%s, %s)'] * len(wanted))}) "
            f"WHERE r.{key} IN ({', '.join(['%s'] * len(ids))}) ORDER BY r.{key}{lock}",
            [*seqs, *pairs, *ids],
        )
        rows = _converted(cursor.fetchall(), [pk, status, session, session_status, started_at, deadline])
    recordings_read = {row[0]: row[:7] for row in rows}  # a recording with several such chunks has a row each
    digests = {(row[0], row[7]): row[8] for row in rows if row[7] is not None}
    return list(recordings_read.values()), digests


def _chunks_insert(chunks: Sequence[SealedChunk]) -> None:
    """One INSERT of every chunk's row, as bulk_create would write them."""
    fields, columns = zip(
        *(
            _column(RecordingChunk, name)
            for name in ("recording", "seq", "storage_name", "size", "sha256", "client_time")
        ),
        strict=True,
    )
    received, received_column = _column(RecordingChunk, "received_at")
    received_at = received.get_db_prep_value(timezone.now(), connection)
    row = f"({', '.join(['%s'] * (len(fields) + 1))})"
    params: list[Any] = []
    for chunk in chunks:
        values = (chunk.recording.pk, chunk.seq, chunk.storage_name, chunk.size, chunk.sha256, chunk.client_time)
        params.extend(field.get_db_prep_value(value, connection) for field, value in zip(fields, values, strict=True))
        params.append(received_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(RecordingChunk)} ({', '.join([*columns, received_column])}) "  # noqa: S608 (names from the model)
            f"VALUES {', '.join([row] * len(chunks))}",
            params,
        )


def _stored_bytes_add(added: dict[Any, int]) -> None:
    """Add each recording's new bytes to its count, in one UPDATE."""
    pk, key = _column(Recording, "id")
    _, column = _column(Recording, "stored_bytes")
    keys = [pk.get_db_prep_value(recording_id, connection) for recording_id in added]
    cases = " ".join(["WHEN %s THEN %s"] * len(added))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(Recording)} SET {column} = {column} + CASE {key} {cases} ELSE 0 END "  # noqa: S608
            f"WHERE {key} IN ({', '.join(['%s'] * len(added))})",
            [value for pair in zip(keys, added.values(), strict=True) for value in pair] + keys,
        )


def chunk_asks_analysis_ahead(recording: Recording, seq: int) -> bool:
    """Every so many webcam chunks the analysis is asked to look at what has arrived (it decides). Each
    session asks at its own place in the cycle, first after one to two cycles' chunks: a class that starts
    at nine o'clock would otherwise ask all at once, every cycle, stalling the servers with a thousand
    messages to the broker in the same second and handing the workers a thousand tasks at once."""
    every = settings.INVIGIL_ANALYSE_AHEAD_CHUNKS
    if not every or recording.kind != StreamKind.WEBCAM or seq < every - 1:
        return False
    offset = recording.session_id.int % every
    return (seq - (every - 1) - offset) % every == 0


def recording_append_chunk(
    *, recording: Recording, seq: int, data: bytes, client_time: datetime | None = None
) -> ChunkStored:
    """Encrypt and durably store one chunk; return only once it is safe to acknowledge. (The recording
    socket does the same for many chunks at once: recordings.ingest.)

    Idempotent: the same bytes under the same number are acknowledged again without a second copy;
    different bytes under a number already stored are refused, never overwritten.
    """
    (outcome,) = chunks_record([chunk_seal(recording=recording, seq=seq, data=data, client_time=client_time)])
    if isinstance(outcome, ChunkRefused):
        raise outcome
    if outcome.outcome == "stored" and chunk_asks_analysis_ahead(recording, seq):
        ask_analysis_ahead(str(recording.session_id))
    return outcome


def ask_analysis_ahead(session_id: str) -> None:
    """A nudge, not a duty: the chunk is stored whatever happens here, and the final analysis does
    whatever the analysis ahead did not."""
    try:
        current_app.send_task(ANALYSIS_AHEAD_TASK, args=[session_id])
    except Exception:  # a broker that cannot be reached must not fail the chunk's acknowledgement
        logger.warning("Could not queue the analysis ahead of session %s.", session_id, exc_info=True)


def _duplicate_or_conflict(recording_id: Any, seq: int, stored_digest: str, digest: str) -> ChunkStored | ChunkRefused:
    if stored_digest != digest:
        return ChunkRefused("conflict", f"Chunk {seq} was already stored with different content.")
    return ChunkStored(recording_id, seq, "duplicate")


def recording_gaps(recording: Recording) -> list[tuple[int, int]]:
    """Runs of missing chunk numbers below the highest one received."""
    seqs = list(RecordingChunk.objects.filter(recording=recording).order_by("seq").values_list("seq", flat=True))
    gaps: list[tuple[int, int]] = []
    expected = 0
    for seq in seqs:
        if seq > expected:
            gaps.append((expected, seq - 1))
        expected = seq + 1
    return gaps


@transaction.atomic
def recording_finalise(*, recording_id: Any, actor: Any) -> Recording:
    """Close a recording to further chunks and record its gaps as technical gaps. Idempotent."""
    recording = Recording.objects.select_for_update().get(pk=recording_id)
    if recording.status == RecordingStatus.FINALISED:
        return recording
    for first, last in recording_gaps(recording):
        RecordingGap.objects.create(recording=recording, first_missing_seq=first, last_missing_seq=last)
    recording.status = RecordingStatus.FINALISED
    recording.finalised_at = timezone.now()
    recording.save(update_fields=["status", "finalised_at"])
    # By name, not import: tasks import this module. Recorded with the finalisation and sent once it is
    # committed; a broker that is down then delays the copy (the outbox sweep sends it), not the answer.
    task_queue_after_commit(PLAYBACK_TASK, args=[str(recording.pk)])
    transaction.on_commit(lambda: _queue_analysis_when_complete(recording.session_id))
    audit_record(
        actor=actor,
        action=AuditAction.RECORDING_FINALISE,
        target=recording,
        detail={"chunks": recording.chunks.count(), "gaps": recording.gaps.count()},
    )
    return recording


#: Browser clocks are wrong in both directions; a time further off than this is replaced by the server's.
CLOCK_TOLERANCE_SECONDS = 24 * 3600
MAX_SIGNAL_DETAIL_BYTES = 2048


def believable_client_time(client_time: datetime | None, now: datetime) -> datetime | None:
    """The browser's time, unless it is unknown or further from the server's than any clock is wrong."""
    if client_time is None or abs((client_time - now).total_seconds()) > CLOCK_TOLERANCE_SECONDS:
        return None
    return client_time


def browser_signal_record(
    *, session: ExamSession, kind: str, client_time: datetime | None, detail: Any
) -> BrowserSignal:
    """Store one browser signal. Refused (ChunkRefused) with a clear code when malformed or late."""
    if kind not in SignalKind.values:
        raise ChunkRefused("unknown_signal", f"{kind!r} is not a browser signal Invigil records.")
    try:
        too_big = not isinstance(detail, dict) or len(json.dumps(detail, allow_nan=False)) > MAX_SIGNAL_DETAIL_BYTES
    except ValueError:
        too_big = True
    if too_big:
        raise ChunkRefused("bad_detail", "Signal details must be a small JSON object.")
    # Only during the attempt: what the browser does while the upload finishes is none of our business.
    if ExamSession.objects.filter(pk=session.pk).values_list("status", flat=True).get() != SessionStatus.STARTED:
        raise ChunkRefused("closed", "This exam session is not in progress, so nothing more is recorded.")
    now = timezone.now()
    believed = believable_client_time(client_time, now)
    if believed is None:
        detail = {**detail, "client_clock_ignored": True}
    return BrowserSignal.objects.create(session=session, kind=kind, client_time=believed or now, detail=detail)


def playback_label(recording_id: Any) -> bytes:
    return f"recording:{recording_id}:playback".encode()


def recording_make_playback_copy(*, recording_id: Any) -> Recording:
    """Decrypt the chunks, remux them as a stream into a seekable WebM, and store that sealed under the
    recording's key as it is made, for review playback with range requests; memory stays bounded
    however long the recording (bench/memory.py). Idempotent."""
    from recordings.selectors import recording_plaintext  # selectors read through this module's labels

    recording = Recording.objects.select_related("data_key").get(pk=recording_id)
    if recording.playback_name:
        return recording
    if recording.status != RecordingStatus.FINALISED:
        raise ChunkRefused("not_finalised", "Only a finalised recording gets a playback copy.")
    remuxed = remux_seekable(lambda: recording_plaintext(recording))
    sealed = crypto.seal_stream(
        data_key_material(recording.data_key), label=playback_label(recording.id), chunks=remuxed.data
    )
    # A fresh name, so that a copy that fails half way (a chunk unreadable, the store gone) is ours
    # alone to delete: it is written as it is made.
    name = f"recordings/{recording.session_id}/{recording.id}/playback-{uuid.uuid4().hex[:12]}.sealed"
    try:
        name = default_storage.save(name, File(cast(BinaryIO, IterReader(sealed))))
    except Exception:
        default_storage.delete(name)
        raise
    updated = Recording.objects.filter(pk=recording.pk, playback_name="").update(
        playback_name=name, playback_size=remuxed.size, duration_seconds=remuxed.duration_seconds
    )
    if not updated:  # another worker finished first
        default_storage.delete(name)
    recording.refresh_from_db()
    return recording


def _queue_analysis_when_complete(session_id: Any) -> None:
    """Once the attempt is over and no stream of it is still uploading, its analysis can begin."""
    ended = ExamSession.objects.filter(pk=session_id, status__in=ATTEMPT_ENDED).exists()
    uploading = Recording.objects.filter(session_id=session_id, status=RecordingStatus.RECORDING).exists()
    if ended and not uploading:
        task_queue_after_commit(ANALYSIS_TASK, args=[str(session_id)])


def session_recordings_finalise(*, session: ExamSession, actor: Any) -> list[Recording]:
    """The page reports every chunk acknowledged: finalise all the session's recordings (and, when it
    recorded none, queue the analysis of its browser signals all the same)."""
    if session.status not in ATTEMPT_ENDED:
        raise ChunkRefused("in_progress", "The exam is still in progress.")
    finalised = [
        recording_finalise(recording_id=recording_id, actor=actor)
        for recording_id in session.recordings.values_list("pk", flat=True)
    ]
    if not finalised:
        transaction.on_commit(lambda: _queue_analysis_when_complete(session.pk))
    return finalised


def recordings_finalise_abandoned(*, upload_grace: timedelta) -> int:
    """Finalise recordings whose attempt ended longer than ``upload_grace`` ago but whose page never
    reported the upload finished. Missing chunks become technical gaps. Idempotent."""
    stale = Recording.objects.filter(
        status=RecordingStatus.RECORDING,
        session__status__in=ATTEMPT_ENDED,
        session__ended_at__lt=timezone.now() - upload_grace,
    ).values_list("pk", flat=True)
    for recording_id in stale:
        recording_finalise(recording_id=recording_id, actor=None)
    return len(stale)


def thumbnail_label(recording_id: Any, moment: float) -> bytes:
    return f"recording:{recording_id}:thumbnail:{round(moment * 1000)}".encode()


def recording_seal_thumbnail(*, recording: Recording, moment: float, jpeg: bytes) -> bytes:
    """Seal an evidence picture taken from this recording under the recording's own key, so it is
    crypto-shredded with the recording. ``moment`` (session seconds) is bound into the ciphertext."""
    return crypto.seal(
        data_key_material(recording.data_key), label=thumbnail_label(recording.id, moment), plaintext=jpeg
    )
