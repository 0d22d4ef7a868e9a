"""Realtime events go out only after the transaction that caused them commits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from proctor.realtime import broadcast_on_commit

GROUP = "session-test"


async def listen_while(action: Callable[[], None]) -> list[dict[str, object]]:
    """Join the group, run the (sync) action in a worker thread as a view would, collect what arrives."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    try:
        await sync_to_async(action)()
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
async def test_nothing_is_sent_before_the_transaction_commits() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    early: list[object] = []

    def inside_transaction() -> None:
        with transaction.atomic():
            broadcast_on_commit(GROUP, "session.status", {"status": "started"})
            try:
                early.append(asyncio.run(asyncio.wait_for(layer.receive(channel), timeout=0.3)))
            except (TimeoutError, RuntimeError):
                pass

    try:
        await sync_to_async(inside_transaction)()
        after = await asyncio.wait_for(layer.receive(channel), timeout=2)
    finally:
        await layer.group_discard(GROUP, channel)
    assert early == []
    assert after == {"type": "session.status", "status": "started"}


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_transaction_sends_nothing() -> None:
    assert await listen_while(roll_back_with_event) == []
