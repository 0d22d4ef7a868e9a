"""Group commit for the recording socket: its chunks, and the streams it starts.

Every consumer in a server process hands its chunks to one committer per event loop, which takes them
through two stages, each working on whatever queued up while it last worked: sealing and writing the
bytes on a thread of its own (services.chunk_seal), then making them part of their recordings in one
transaction on one database thread (services.chunks_record); then each is acknowledged. No chunk waits
for a timer: while one batch commits, the next is sealed and the one after gathers, so a quiet server
commits chunk by chunk and a busy one in batches of many.

Durability is unchanged: a chunk is acknowledged only once its sealed bytes are durable and its row is
committed. The bytes are made durable a batch at a time, before the batch's rows are written.

Stream starts go the same way (StreamStarter): the starts that arrive while a batch of them is being
started are created and audited together, with one append to the audit chain, whose lock every audited
action in every process takes in turn.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.core.files.storage import default_storage

from proctor.db import connections_tidied, pooled_database_call
from proctor.storage import batch_make_durable
from recordings.models import Recording
from recordings.services import (
    ChunkRefused,
    ChunkStored,
    SealedChunk,
    StreamStart,
    ask_analysis_ahead,
    chunk_asks_analysis_ahead,
    chunk_seal,
    chunks_record,
    recordings_start,
    stored_chunk_counts,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Chunks per transaction at most; at a real exam's load (bench/ingest.py) batches stay far below.
MAX_BATCH = 500

# Chunks are sealed and written on a thread of their own, not the pool every database call of the
# server shares: a storm of sign-ins after a restart (each stream start waits for the audit chain) must
# not hold up chunks that have arrived. A batch at a time, while the previous batch commits: one hand-over
# per batch, not per chunk (each wakes the event loop through its pipe). (A pool, as tests run a loop each.)
_seal_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="invigil-chunk-seal")
# One thread, and so one database connection, commits every batch of the process: batches never
# contend for the same recordings' row locks, and the connection is not set up and checked per chunk.
_commit_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="invigil-chunk-commit")
# Nudges to the analysis wait on the broker; they get their own thread so that a broker that is down
# slows nothing else, and each session is nudged at most once at a time.
_nudge_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="invigil-analysis-nudge")
_nudges_pending: set[str] = set()


def _record(chunks: list[SealedChunk]) -> list[ChunkStored | ChunkRefused]:
    # The batch's bytes first, in one sync of the media filesystem: a row must never name a file a crash
    # could lose. (An fsync of each chunk and its folder cost ten times more: bench/ingest.py --profile.)
    batch_make_durable(default_storage)
    # The connection is checked (a round trip) as at the start of each request, unless it has just
    # committed a batch; a connection that broke is dropped, and the next batch opens another.
    with connections_tidied():
        return chunks_record(chunks)


def _nudge(session_id: str) -> None:
    try:
        ask_analysis_ahead(session_id)
    finally:
        _nudges_pending.discard(session_id)


@dataclass(frozen=True)
class ChunkArrived:
    """A chunk as the socket received it, before it is sealed."""

    recording: Recording
    seq: int
    data: bytes
    client_time: datetime | None


def _seal(chunks: list[ChunkArrived]) -> list[SealedChunk | Exception]:
    """Seal and write a batch of chunks, each on its own: a refusal or an error answers that chunk only."""
    out: list[SealedChunk | Exception] = []
    for chunk in chunks:
        try:
            out.append(
                chunk_seal(
                    recording=chunk.recording,
                    seq=chunk.seq,
                    data=chunk.data,
                    client_time=chunk.client_time,
                    durable=False,
                )
            )
        except ChunkRefused as refused:
            out.append(refused)
        except Exception as exc:  # a full disk, say: this chunk's sender hears it and sends it again later
            logger.warning("A chunk could not be stored.", exc_info=True)
            out.append(exc)
    return out


Waiter = asyncio.Future[ChunkStored | ChunkRefused]


def _answer(batch: Sequence[tuple[object, asyncio.Future[T]]], outcomes: Sequence[T] | Exception) -> None:
    """Answer every waiter of a batch: each with its own outcome, or all with the exception that stopped the
    batch. A waiter whose socket closed meanwhile was cancelled and is passed over."""
    if isinstance(outcomes, Exception):
        for _, waiter in batch:
            if not waiter.done():
                waiter.set_exception(outcomes)
        return
    for (_, waiter), outcome in zip(batch, outcomes, strict=True):
        if not waiter.done():
            waiter.set_result(outcome)


class ChunkCommitter:
    """One event loop's chunks, on their way through two stages that each take whatever queued up while
    they worked: sealing and writing the bytes (one thread call per batch), then committing them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.arrived: list[tuple[ChunkArrived, Waiter]] = []
        self.sealing: asyncio.Task[None] | None = None
        self.waiting: list[tuple[SealedChunk, Waiter]] = []
        self.committing: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions so far (the tests look)

    async def append(self, *, recording: Recording, seq: int, data: bytes, client_time: datetime | None) -> ChunkStored:
        """Seal, store and commit one chunk; return once it is safe to acknowledge, or raise ChunkRefused."""
        waiter: Waiter = self.loop.create_future()
        self.arrived.append((ChunkArrived(recording, seq, data, client_time), waiter))
        if self.sealing is None or self.sealing.done():
            self.sealing = self.loop.create_task(self._seal_arrived())
        outcome = await waiter
        if isinstance(outcome, ChunkRefused):
            raise outcome
        if outcome.outcome == "stored" and chunk_asks_analysis_ahead(recording, seq):
            session_id = str(recording.session_id)
            if session_id not in _nudges_pending:
                _nudges_pending.add(session_id)
                self.loop.run_in_executor(_nudge_thread, _nudge, session_id)
        return outcome

    async def _seal_arrived(self) -> None:
        while self.arrived:
            batch, self.arrived = self.arrived[:MAX_BATCH], self.arrived[MAX_BATCH:]
            try:
                results = await self.loop.run_in_executor(_seal_threads, _seal, [chunk for chunk, _ in batch])
            except Exception as exc:  # the pool itself failed (shutting down, say): no waiter is left hanging
                _answer(batch, exc)
                continue
            for (_, waiter), result in zip(batch, results, strict=True):
                if isinstance(result, SealedChunk):
                    # Committed even if its socket closed meanwhile: the page sends it again and hears
                    # "duplicate", and no sealed copy is left without its row.
                    self.waiting.append((result, waiter))
                elif not waiter.done():
                    if isinstance(result, ChunkRefused):
                        waiter.set_result(result)
                    else:
                        waiter.set_exception(result)
            if self.waiting and (self.committing is None or self.committing.done()):
                self.committing = self.loop.create_task(self._commit_waiting())

    async def _commit_waiting(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            self.batches += 1
            try:
                outcomes = await self.loop.run_in_executor(_commit_thread, _record, [sealed for sealed, _ in batch])
            except Exception as exc:  # the database is down, say: every waiter hears it, none is lost silently
                logger.warning("A batch of %d chunks could not be committed.", len(batch), exc_info=True)
                _answer(batch, exc)
                continue
            _answer(batch, outcomes)


#: Stream starts per transaction at most.
MAX_STARTS = 100

Started = tuple[Recording, int] | ChunkRefused


def _start(starts: list[StreamStart]) -> list[Started]:
    outcomes = recordings_start(starts)
    counts = stored_chunk_counts([outcome.pk for outcome in outcomes if isinstance(outcome, Recording)])
    return [outcome if isinstance(outcome, ChunkRefused) else (outcome, counts[outcome.pk]) for outcome in outcomes]


class StreamStarter:
    """One event loop's stream starts, a batch at a time: those that arrive while one batch is being started
    are started together, in one transaction with one append to the audit chain (services.recordings_start).
    An exam's students sign in within a minute or two, two streams each, and each new stream is audited."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.arrived: list[tuple[StreamStart, asyncio.Future[Started]]] = []
        self.starting: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions so far (the tests look)

    async def start(self, start: StreamStart) -> tuple[Recording, int]:
        """The part's recording and how many chunks it holds already; or raise ChunkRefused."""
        waiter: asyncio.Future[Started] = self.loop.create_future()
        self.arrived.append((start, waiter))
        if self.starting is None or self.starting.done():
            self.starting = self.loop.create_task(self._start_arrived())
        outcome = await waiter
        if isinstance(outcome, ChunkRefused):
            raise outcome
        return outcome

    async def _start_arrived(self) -> None:
        while self.arrived:
            batch, self.arrived = self.arrived[:MAX_STARTS], self.arrived[MAX_STARTS:]
            self.batches += 1
            try:
                # On the pool, with its connection tidied before and after (proctor.db).
                outcomes = await pooled_database_call(_start)([start for start, _ in batch])
            except Exception as exc:  # the database is down, say: every socket hears it
                logger.warning("A batch of %d stream starts failed.", len(batch), exc_info=True)
                _answer(batch, exc)
                continue
            _answer(batch, outcomes)  # a socket that closed meanwhile finds its stream started next time


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[ChunkCommitter, StreamStarter]] = (
    weakref.WeakKeyDictionary()
)


def _of_running_loop() -> tuple[ChunkCommitter, StreamStarter]:
    """The running event loop's committer and stream starter (one each per server process; tests run a loop
    each)."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = (ChunkCommitter(loop), StreamStarter(loop))
    return found


def committer() -> ChunkCommitter:
    """The running event loop's chunk committer."""
    return _of_running_loop()[0]


def starter() -> StreamStarter:
    """The running event loop's stream starter."""
    return _of_running_loop()[1]
