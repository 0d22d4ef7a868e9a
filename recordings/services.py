"""Writes to recordings: start a stream, append a chunk (encrypted, durable, idempotent), finalise.

The only code, with the selectors' reader, that encrypts or decrypts media.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Literal, cast

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from exams.lifecycle import ATTEMPT_ENDED
from exams.models import ExamSession, SessionStatus
from proctor import crypto
from proctor.audit import audit_record
from proctor.keys import data_key_create, data_key_material
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
#: Session statuses in which chunks are still accepted: during the attempt, and after it until finalised.
logger = logging.getLogger(__name__)

UPLOADING = frozenset({SessionStatus.STARTED, *ATTEMPT_ENDED})
#: The EBML magic that every WebM file (so every first chunk) starts with.
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


class ChunkRefused(Exception):
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
    return f"recordings/{recording.session_id}/{recording.id}/{seq:08d}-{uuid.uuid4().hex[:12]}.sealed"


def recordings_due_at(session: ExamSession) -> datetime:
    """When a session's recordings fall due for purging: the exam's close plus its institution's recording
    retention. (The retention job keeps them longer under a legal hold, a review or an appeal window.)"""
    exam = session.exam
    return exam.closes_at + timedelta(days=exam.course.institution.recording_retention_days)


@transaction.atomic
def recording_start(*, session: ExamSession, kind: str, mime_type: str, actor: Any, part: int = 0) -> Recording:
    """One part of one stream of a session, created with its own data key on first use."""
    if kind not in StreamKind.values:
        raise ChunkRefused("unknown_stream", f"{kind!r} is not a stream Invigil records.")
    if not 0 <= part < MAX_PARTS:
        raise ChunkRefused("bad_part", f"A stream has at most {MAX_PARTS} parts.")
    existing = Recording.objects.filter(session=session, kind=kind, part=part).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            recording = Recording.objects.create(
                session=session,
                kind=kind,
                part=part,
                mime_type=mime_type[:100],
                data_key=data_key_create(purpose="recording", due_at=recordings_due_at(session)),
            )
    except IntegrityError:  # two sockets started the same part at once: use the one that won
        return Recording.objects.get(session=session, kind=kind, part=part)
    audit_record(actor=actor, action="recording.start", target=recording, detail={"kind": kind, "part": part})
    return recording


def recording_append_chunk(
    *, recording: Recording, seq: int, data: bytes, client_time: datetime | None = None
) -> ChunkStored:
    """Encrypt and durably store one chunk; return only once it is safe to acknowledge.

    Idempotent: the same bytes under the same number are acknowledged again without a second copy;
    different bytes under a number already stored are refused, never overwritten.
    """
    if not 0 <= seq < MAX_SEQ:
        raise ChunkRefused("bad_seq", f"Chunk numbers run from 0 to {MAX_SEQ - 1}.")
    if not data:
        raise ChunkRefused("empty", "The chunk is empty.")
    if len(data) > MAX_CHUNK_BYTES:
        raise ChunkRefused("too_large", f"A chunk may hold at most {MAX_CHUNK_BYTES // (1024 * 1024)} MiB.")
    if seq == 0 and not data.startswith(WEBM_MAGIC):
        raise ChunkRefused("not_webm", "The first chunk of a stream must start a WebM file.")

    # A clock this wrong says nothing: the chunk's time is unknown, and its receive time stands in (selectors).
    client_time = believable_client_time(client_time, timezone.now())
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # The row lock orders this append against finalisation: no chunk is stored after it.
        locked = Recording.objects.select_for_update().get(pk=recording.pk)
        # After submit or time-out the browser still uploads what it holds, until the recording is finalised.
        session_status = ExamSession.objects.filter(pk=locked.session_id).values_list("status", flat=True).get()
        if locked.status != RecordingStatus.RECORDING or session_status not in UPLOADING:
            raise ChunkRefused("closed", "This recording is closed, so nothing more is stored.")
        existing = RecordingChunk.objects.filter(recording=locked, seq=seq).values_list("sha256", flat=True).first()
        if existing is not None:
            return _duplicate_or_conflict(recording, seq, existing, digest)
        key = data_key_material(recording.data_key)
        sealed = crypto.seal(key, label=chunk_label(recording.id, seq), plaintext=data)
        name = default_storage.save(chunk_storage_name(recording, seq), ContentFile(sealed))
        # No savepoint: a failed insert is re-raised and rolls the whole append back, so one would only
        # cost two more round trips per chunk, each milliseconds of waiting under load (bench/ingest.py --profile).
        try:
            RecordingChunk.objects.create(
                recording=locked,
                seq=seq,
                storage_name=name,
                size=len(data),
                sha256=digest,
                client_time=client_time,
            )
        except IntegrityError:
            default_storage.delete(name)  # our own uniquely named object, never another writer's
            raise
    # Every so many webcam chunks the analysis is asked to look at what has arrived (it decides).
    every = settings.INVIGIL_ANALYSE_AHEAD_CHUNKS
    if every and recording.kind == StreamKind.WEBCAM and seq % every == every - 1:
        # By name, not import: analysis imports this module.
        session_id = str(recording.session_id)
        transaction.on_commit(lambda: _ask_analysis_ahead(session_id))
    return ChunkStored(recording.id, seq, "stored")


def _ask_analysis_ahead(session_id: str) -> None:
    """A nudge, not a duty: the chunk is stored whatever happens here, and the final analysis does
    whatever the analysis ahead did not."""
    try:
        current_app.send_task(ANALYSIS_AHEAD_TASK, args=[session_id])
    except Exception:  # a broker that cannot be reached must not fail the chunk's acknowledgement
        logger.warning("Could not queue the analysis ahead of session %s.", session_id, exc_info=True)


def _duplicate_or_conflict(recording: Recording, seq: int, stored_digest: str, digest: str) -> ChunkStored:
    if stored_digest != digest:
        raise ChunkRefused("conflict", f"Chunk {seq} was already stored with different content.")
    return ChunkStored(recording.id, seq, "duplicate")


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
    # By name, not import: tasks import this module. Queued only once the finalisation is committed.
    transaction.on_commit(lambda: current_app.send_task(PLAYBACK_TASK, args=[str(recording.pk)]))
    transaction.on_commit(lambda: _queue_analysis_when_complete(recording.session_id))
    audit_record(
        actor=actor,
        action="recording.finalise",
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
        current_app.send_task(ANALYSIS_TASK, args=[str(session_id)])


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
