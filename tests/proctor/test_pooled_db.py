"""proctor.db: database calls from the event loop run on the thread pool, and a connection that has just
worked is used without a health check's round trip; any other is checked, and replaced if it broke."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

from identity.models import User
from proctor import db
from proctor.db import pooled_database_call


def close_own_connection() -> None:
    connection.close()  # the calling thread's own connection (``connection`` is looked up in that thread)


@pytest.fixture
def one_thread() -> Iterator[ThreadPoolExecutor]:
    """One pool thread, so that every call uses the same connection."""
    executor = ThreadPoolExecutor(max_workers=1)
    yield executor
    executor.submit(close_own_connection).result()  # before the test database goes
    executor.shutdown()


@pytest.fixture
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite's connections are closed after every call and do not break; this runs in the PostgreSQL pass."
        )


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every health check made, by the thread that made it."""
    made: list[str] = []
    real = type(connections[DEFAULT_DB_ALIAS]).is_usable

    def is_usable(self: Any) -> bool:
        made.append(threading.current_thread().name)
        return bool(real(self))

    monkeypatch.setattr(type(connections[DEFAULT_DB_ALIAS]), "is_usable", is_usable)
    return made


def count_users() -> int:
    return User.objects.count()


def broken_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")


def break_the_connection() -> None:
    connection.ensure_connection()
    connection.connection.close()  # as a restarted server would leave it


@pytest.mark.django_db(transaction=True)
async def test_a_call_runs_on_a_pool_thread_and_answers_or_raises_as_the_function_does() -> None:
    loop_thread = threading.current_thread()
    assert await pooled_database_call(threading.current_thread)() is not loop_thread
    assert await pooled_database_call(count_users)() == 0
    with pytest.raises(DatabaseError):
        await pooled_database_call(broken_query)()


@pytest.mark.usefixtures("postgresql_only")
@pytest.mark.django_db(transaction=True)
async def test_a_connection_that_just_worked_is_used_without_a_check_and_one_left_idle_is_checked(
    one_thread: ThreadPoolExecutor, checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    call = pooled_database_call(count_users, executor=one_thread)
    await call()  # a new connection: nothing to check
    await call()
    await call()
    assert checks == []
    # Left idle for longer than RECHECK_AFTER, it is checked once before its next use, and trusted after it.
    monkeypatch.setattr(db, "RECHECK_AFTER", 0.0)
    await call()
    assert len(checks) == 1
    monkeypatch.setattr(db, "RECHECK_AFTER", 60.0)
    await call()
    assert len(checks) == 1


@pytest.mark.usefixtures("postgresql_only")
@pytest.mark.django_db(transaction=True)
async def test_a_connection_that_broke_while_idle_is_replaced_before_it_is_used(
    one_thread: ThreadPoolExecutor, checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await pooled_database_call(count_users, executor=one_thread)()
    await pooled_database_call(break_the_connection, executor=one_thread)()
    time.sleep(0.05)
    monkeypatch.setattr(db, "RECHECK_AFTER", 0.01)
    assert await pooled_database_call(count_users, executor=one_thread)() == 0
    assert len(checks) == 1


@pytest.mark.usefixtures("postgresql_only")
@pytest.mark.django_db(transaction=True)
async def test_after_a_call_that_failed_the_next_is_checked_and_a_broken_connection_replaced(
    one_thread: ThreadPoolExecutor, checks: list[str]
) -> None:
    call = pooled_database_call(count_users, executor=one_thread)
    await call()
    # A call that failed on a connection that still works: the connection is checked on the way out and kept.
    with pytest.raises(DatabaseError):
        await pooled_database_call(broken_query, executor=one_thread)()
    assert len(checks) == 1
    assert await call() == 0
    # A call that broke its connection: the connection is dropped on the way out, and the next call opens another.
    await pooled_database_call(break_the_connection, executor=one_thread)()

    def fail_on_the_broken_connection() -> None:
        connection.errors_occurred = True  # as Django marks a connection whose query raised
        raise DatabaseError("the server went away")

    with pytest.raises(DatabaseError):
        await pooled_database_call(fail_on_the_broken_connection, executor=one_thread)()
    assert await call() == 0
