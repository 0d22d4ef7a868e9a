"""Realtime events go out only after the transaction that caused them commits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction

from proctor.realtime import broadcast_on_commit

GROUP = "session-test"


def closing_connection(action: Callable[[], None]) -> Callable[[], None]:
    """Run ``action`` and close the worker thread's database connection, which would otherwise stay
    open past the test and keep PostgreSQL from dropping the test database."""

    def run() -> None:
        try:
            action()
        finally:
            connection.close()

    return run


async def listen_while(action: Callable[[], None]) -> list[dict[str, object]]:
    """Join the group, run the (sync) action in a worker thread as a view would, collect what arrives."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    try:
        await sync_to_async(closing_connection(action))()
        received = []
        while True:
            try:
                received.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
            except TimeoutError:
                return received
    finally:
        await layer.group_discard(GROUP, channel)


def commit_with_event(seen_inside: list[object]) -> None:
    with transaction.atomic():
        broadcast_on_commit(GROUP, "session.status", {"status": "started"})
        seen_inside.append("inside")


def roll_back_with_event() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast_on_commit(GROUP, "session.status", {"status": "started"})
        raise RuntimeError


@pytest.mark.django_db(transaction=True)
async def test_an_event_is_sent_after_commit() -> None:
    received = await listen_while(lambda: commit_with_event([]))
    assert received == [{"type": "session.status", "status": "started"}]


@pytest.mark.django_db(transaction=True)
async def test_nothing_is_sent_while_the_transaction_is_open() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    inside, commit = threading.Event(), threading.Event()

    def hold_the_transaction_open() -> None:
        with transaction.atomic():
            broadcast_on_commit(GROUP, "session.status", {"status": "started"})
            inside.set()
            commit.wait(timeout=10)

    try:
        task = asyncio.ensure_future(sync_to_async(closing_connection(hold_the_transaction_open))())
        assert await asyncio.to_thread(inside.wait, 10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=0.5)
        commit.set()
        await task
        after = await asyncio.wait_for(layer.receive(channel), timeout=5)
    finally:
        commit.set()
        await layer.group_discard(GROUP, channel)
    assert after == {"type": "session.status", "status": "started"}


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_transaction_sends_nothing() -> None:
    assert await listen_while(roll_back_with_event) == []
