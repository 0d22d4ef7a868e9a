"""Database calls from the event loop, side by side on the thread pool, without a round trip to check a
connection that has just worked.

Channels' database_sync_to_async tidies the thread's connections before and after each call, as Django does
around each request; with CONN_HEALTH_CHECKS on, each call's first query is then preceded by a ``SELECT 1``.
A student's sign-in on the recording socket makes three such calls (who they are, the Safe Exam Browser
guard, the socket's own check), and when a thousand sign in at once, on a machine whose cores are busy, each
round trip waits for the database server to be scheduled (bench/ingest.py, the ramp). Here a connection that
ended a call without error less than RECHECK_AFTER ago is trusted without the check, as the chunk committer
trusts its own (recordings.ingest). Any other connection is checked as before: one left idle, or one that
failed, is tested (and replaced if the server went away) before it is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds after a call ended well within which the next call uses the connection without checking it.
RECHECK_AFTER = 1.0

_ENDED_WELL = "_invigil_ended_well_at"


class PooledDatabaseCall(SyncToAsync[P, R]):
    """A sync function made awaitable on the thread pool (not the single thread-sensitive thread), with its
    thread's connections tidied around it as Django tidies them around a request."""

    def __init__(self, func: Callable[P, R], *, executor: ThreadPoolExecutor | None = None) -> None:
        super().__init__(func, thread_sensitive=False, executor=executor)

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        now = time.monotonic()
        for connection in connections.all(initialized_only=True):
            recent = now - getattr(connection, _ENDED_WELL, -RECHECK_AFTER) < RECHECK_AFTER
            if connection.connection is not None and recent:
                connection.health_check_done = True  # type: ignore[attr-defined]  # set by Django's own checks
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()  # closes any connection that failed and is no longer usable
            now = time.monotonic()
            for connection in connections.all(initialized_only=True):
                ended_well = connection.connection is not None and not connection.errors_occurred
                setattr(connection, _ENDED_WELL, now if ended_well else -RECHECK_AFTER)


def pooled_database_call(
    func: Callable[P, R], *, executor: ThreadPoolExecutor | None = None
) -> PooledDatabaseCall[P, R]:
    """``func`` as an awaitable that runs on the thread pool (see the module's docstring)."""
    return PooledDatabaseCall(func, executor=executor)
