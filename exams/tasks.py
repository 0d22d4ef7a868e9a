"""Scheduled jobs of exams."""

from __future__ import annotations

import logging

from celery import shared_task

from exams.services import sessions_time_out_expired

logger = logging.getLogger(__name__)


@shared_task(name="exams.time_out_expired_attempts", acks_late=True, time_limit=300)
def time_out_expired_attempts() -> int:
    """Every minute: end attempts whose time ran out while the student's page was gone."""
    count = sessions_time_out_expired()
    if count:
        logger.info("Timed out %d expired attempts.", count)
    return count
