"""Group commit for the recording socket.

Every consumer in a server process hands its sealed chunks to one committer per event loop. The
committer makes whatever has queued up part of its recordings in one transaction on one database
thread (services.chunks_record), then acknowledges each. No chunk waits for a timer: while one batch
commits, the next gathers, so a quiet server commits chunk by chunk and a busy one in batches of many.

Durability is unchanged: a chunk is acknowledged only once its sealed bytes are durable and its row is
committed. The bytes are sealed and written side by side on a pool of their own
(services.chunk_seal), and made durable a batch at a time, before the batch's rows are written.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.core.files.storage import default_storage
from django.db import close_old_connections

from proctor.storage import batch_make_durable
from recordings.models import Recording
from recordings.services import (
    ChunkRefused,
    ChunkStored,
    SealedChunk,
    ask_analysis_ahead,
    chunk_asks_analysis_ahead,
    chunk_seal,
    chunks_record,
)

logger = logging.getLogger(__name__)

#: Chunks per transaction at most; at a real exam's load (bench/ingest.py) batches stay far below.
MAX_BATCH = 500

# Chunks are sealed and written on threads of their own, not the pool every database call of the
# server shares: a storm of sign-ins after a restart (each stream start waits for the audit chain) must
# not hold up chunks that have arrived. Sealing is mostly OpenSSL and the kernel, which release the GIL.
_seal_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="invigil-chunk-seal")
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
    # As database_sync_to_async does around every call: drop a connection that broke or grew too old.
    close_old_connections()
    try:
        return chunks_record(chunks)
    finally:
        close_old_connections()


def _nudge(session_id: str) -> None:
    try:
        ask_analysis_ahead(session_id)
    finally:
        _nudges_pending.discard(session_id)


class ChunkCommitter:
    """The queue of one event loop's sealed chunks and the task that commits them in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[tuple[SealedChunk, asyncio.Future[ChunkStored | ChunkRefused]]] = []
        self.committing: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions so far (the tests look)

    async def append(self, *, recording: Recording, seq: int, data: bytes, client_time: datetime | None) -> ChunkStored:
        """Seal, store and commit one chunk; return once it is safe to acknowledge, or raise ChunkRefused."""
        sealed = await self.loop.run_in_executor(
            _seal_threads,
            functools.partial(
                chunk_seal, recording=recording, seq=seq, data=data, client_time=client_time, durable=False
            ),
        )
        outcome = await self._commit(sealed)
        if isinstance(outcome, ChunkRefused):
            raise outcome
        if outcome.outcome == "stored" and chunk_asks_analysis_ahead(recording, seq):
            session_id = str(recording.session_id)
            if session_id not in _nudges_pending:
                _nudges_pending.add(session_id)
                self.loop.run_in_executor(_nudge_thread, _nudge, session_id)
        return outcome

    def _commit(self, sealed: SealedChunk) -> asyncio.Future[ChunkStored | ChunkRefused]:
        waiter: asyncio.Future[ChunkStored | ChunkRefused] = self.loop.create_future()
        self.waiting.append((sealed, waiter))
        if self.committing is None or self.committing.done():
            self.committing = self.loop.create_task(self._commit_waiting())
        return waiter

    async def _commit_waiting(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            self.batches += 1
            try:
                outcomes = await self.loop.run_in_executor(_commit_thread, _record, [sealed for sealed, _ in batch])
            except Exception as exc:  # the database is down, say: every waiter hears it, none is lost silently
                logger.warning("A batch of %d chunks could not be committed.", len(batch), exc_info=True)
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                if not waiter.done():  # a waiter whose socket closed meanwhile was cancelled
                    waiter.set_result(outcome)


_committers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChunkCommitter] = weakref.WeakKeyDictionary()


def committer() -> ChunkCommitter:
    """The running event loop's committer (one per server process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    found = _committers.get(loop)
    if found is None:
        found = _committers[loop] = ChunkCommitter(loop)
    return found
