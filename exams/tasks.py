"""Scheduled jobs of exams."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from exams.lifecycle import TransitionError
from exams.models import ExamSession, SessionStatus
from exams.services import SUBMIT_GRACE, session_time_out

logger = logging.getLogger(__name__)


@shared_task(name="exams.time_out_expired_attempts", acks_late=True, time_limit=300)
def time_out_expired_attempts() -> int:
    """Every minute: end attempts whose time ran out while the student's page was gone (closed tab,
    lost power). Idempotent: an attempt already ended is skipped."""
    expired = ExamSession.objects.filter(
        status=SessionStatus.STARTED, deadline__lt=timezone.now() - SUBMIT_GRACE
    ).values_list("pk", flat=True)
    count = 0
    for session_id in expired:
        try:
            session_time_out(session_id=session_id)
            count += 1
        except TransitionError:
            continue  # submitted meanwhile
    if count:
        logger.info("Timed out %d expired attempts.", count)
    return count
