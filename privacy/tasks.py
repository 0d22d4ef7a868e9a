"""The daily retention purge, on Celery beat (its schedule is in the admin under "Periodic tasks")."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from privacy.services import purge_due

logger = logging.getLogger(__name__)


@shared_task(
    name="privacy.purge_due",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed run is delivered again and finishes what was left
    autoretry_for=(OperationalError, OSError),
    retry_backoff=True,
    max_retries=6,
    time_limit=6 * 3600,
)
def purge_due_task() -> dict[str, int]:
    report = purge_due()
    logger.info(
        "Retention purge: %d sessions' recordings and %d identity profiles purged; %d kept by legal holds; "
        "%d data keys moved to a later period; %d period keys destroyed.",
        report.recordings,
        report.profiles,
        report.held,
        report.keys_moved,
        report.key_periods_destroyed,
    )
    return {"recordings": report.recordings, "profiles": report.profiles, "held": report.held}
