"""Realtime events go out only after the transaction that caused them commits."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from proctor.realtime import broadcast_on_commit


def receive_all(channel: str) -> list[dict[str, object]]:
    layer = get_channel_layer()
    received = []

    async def drain() -> None:
        import asyncio

        while True:
            try:
                received.append(await asyncio.wait_for(layer.receive(channel), timeout=0.3))
            except TimeoutError:
                return

    async_to_sync(drain)()
    return received


@pytest.fixture
def listener() -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("session-test", channel)
    yield channel
    async_to_sync(layer.group_discard)("session-test", channel)


@pytest.mark.django_db(transaction=True)
def test_an_event_is_sent_after_commit(listener: str) -> None:
    with transaction.atomic():
        broadcast_on_commit("session-test", "session.status", {"status": "started"})
        assert receive_all(listener) == []
    assert receive_all(listener) == [{"type": "session.status", "status": "started"}]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(listener: str) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast_on_commit("session-test", "session.status", {"status": "started"})
        raise RuntimeError
    assert receive_all(listener) == []
