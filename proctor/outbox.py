"""The task outbox: a Celery task that work depends on (a playback copy, an analysis) is recorded in
the transaction that makes it due, so a broker outage delays it instead of losing it, and the request
that committed the work still answers as it should."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from proctor.models import QueuedTask

logger = logging.getLogger(__name__)

#: A row younger than this may still be on its way from its own transaction's commit hook.
FLUSH_AFTER = timedelta(seconds=60)
#: Rows sent per sweep: a long outage drains over a few runs instead of one long one.
FLUSH_LIMIT = 500


def task_queue_after_commit(task: str, *, args: list[str]) -> None:
    """Queue ``task(*args)`` once the current transaction commits (at once outside one).

    The row is written with the work; if the broker cannot be reached after the commit, the row
    stays for ``outbox_flush`` and nothing is raised. The task must be idempotent: a crash between
    sending and deleting the row sends it twice."""
    queued = QueuedTask.objects.create(task=task, args=args)
    transaction.on_commit(lambda: _send(queued))


def _send(queued: QueuedTask) -> bool:
    try:
        current_app.send_task(queued.task, args=queued.args)
    except Exception:  # kombu's errors for an unreachable broker vary by transport
        logger.warning("The broker did not take %s; the outbox sweep will send it.", queued, exc_info=True)
        return False
    QueuedTask.objects.filter(pk=queued.pk).delete()
    return True


def outbox_flush(*, older_than: timedelta = FLUSH_AFTER, limit: int = FLUSH_LIMIT) -> int:
    """Send the queued tasks the broker did not take when they became due, oldest first, at most
    ``limit`` of them; stop at the first refusal (the broker is still down). Returns how many went."""
    waiting = QueuedTask.objects.filter(created_at__lt=timezone.now() - older_than)[:limit]
    sent = 0
    for queued in waiting:
        if not _send(queued):
            break
        sent += 1
    if sent:
        logger.info("Sent %d task(s) that had waited for the broker.", sent)
    return sent
