"""Database calls from the event loop, side by side on the thread pool, without a round trip to check a
connection that has just worked.

Channels' database_sync_to_async tidies the thread's connections before and after each call, as Django does
around each request; with CONN_HEALTH_CHECKS on, each call's first query is then preceded by a ``SELECT 1``.
A student's sign-in on the recording socket makes three such calls (who they are, the Safe Exam Browser
guard, the socket's own check), and when a thousand sign in at once, on a machine whose cores are busy, each
round trip waits for the database server to be scheduled (bench/ingest.py, the ramp). Here a connection that
ended a call without error less than RECHECK_AFTER ago is trusted without the check; the chunk committer
(recordings.ingest) tidies its connection around each batch by the same rule. Any other connection is
checked as before: one left idle, or one that failed, is tested (and replaced if the server went away)
before it is used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds after a call ended well within which the next call uses the connection without checking it.
RECHECK_AFTER = 1.0

_ENDED_WELL = "_invigil_ended_well_at"


@contextmanager
def connections_tidied() -> Iterator[None]:
    """Tidy this thread's connections around a unit of work, as Django tidies them around a request, but use
    a connection that ended its last unit well less than RECHECK_AFTER ago without checking it first."""
    close_old_connections()
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        recent = now - getattr(connection, _ENDED_WELL, -math.inf) < RECHECK_AFTER
        if connection.connection is not None and recent:
            connection.health_check_done = True  # type: ignore[attr-defined]  # set by Django's own checks
    try:
        yield
    finally:
        close_old_connections()  # closes any connection that failed and is no longer usable
        now = time.monotonic()
        for connection in connections.all(initialized_only=True):
            ended_well = connection.connection is not None and not connection.errors_occurred
            setattr(connection, _ENDED_WELL, now if ended_well else -math.inf)


class PooledDatabaseCall(SyncToAsync[P, R]):
    """A sync function made awaitable on the thread pool (not the single thread-sensitive thread), with its
    thread's connections tidied around it (connections_tidied)."""

    def __init__(self, func: Callable[P, R], *, executor: ThreadPoolExecutor | None = None) -> None:
        super().__init__(func, thread_sensitive=False, executor=executor)

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        with connections_tidied():
            return super().thread_handler(loop, *args, **kwargs)


#: ``pooled_database_call(func)`` is ``func`` as an awaitable that runs on the thread pool (see above).
pooled_database_call = PooledDatabaseCall
