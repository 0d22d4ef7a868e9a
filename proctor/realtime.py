"""Realtime events to browsers over the Channels layer, sent only once the transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def group_send_now(group: str, event_type: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group, {"type": event_type, **payload})


def broadcast_on_commit(group: str, event_type: str, payload: dict[str, Any]) -> None:
    """Send ``{"type": event_type, **payload}`` to ``group`` after the current transaction commits.

    A rolled-back transaction sends nothing, so browsers never see a change that did not happen.
    Outside a transaction it is sent at once.
    """
    transaction.on_commit(lambda: _send_or_log(group, event_type, payload))


def _send_or_log(group: str, event_type: str, payload: dict[str, Any]) -> None:
    # The change is committed; a channel layer that is down (Redis) costs the live update, which a
    # reload shows anyway, and must not turn the request that made the change into an error.
    try:
        group_send_now(group, event_type, payload)
    except Exception:  # the layer's errors vary by backend (redis-py's, asyncio's)
        logger.warning("Could not send %s to %s.", event_type, group, exc_info=True)
