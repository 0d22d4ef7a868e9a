"""Celery tasks of analysis, on their own ``analysis`` queue: thin, idempotent, owning their retries."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError

from analysis.services import analysis_ahead, analysis_requeue_stalled, analysis_run
from exams.models import ExamSession
from recordings.services import ANALYSIS_AHEAD_TASK, ANALYSIS_TASK

logger = logging.getLogger(__name__)

#: About ten times the expected work for a long exam; past it the run fails with a clear reason.
SOFT_TIME_LIMIT = 1800


@shared_task(
    name=ANALYSIS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker's task is delivered again, and the re-run takes over
    autoretry_for=(OperationalError, OSError),  # a database or storage hiccup: try again, later each time
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=SOFT_TIME_LIMIT + 120,
)
def analyse_session(session_id: str) -> dict[str, Any]:
    """Analyse one finished exam session and make it ready for review (or say why it could not be)."""
    try:
        return analysis_run(session_id=session_id)
    except ExamSession.DoesNotExist:
        return {"session": session_id, "outcome": "gone"}


@shared_task(name="analysis.requeue_stalled", acks_late=True, time_limit=300)
def requeue_stalled_analyses() -> int:
    """Every few minutes: analyses whose worker stopped, or whose message was lost, are queued again."""
    return analysis_requeue_stalled()


@shared_task(
    name=ANALYSIS_AHEAD_TASK,
    ignore_result=True,  # one a minute per student: their results would only fill the results table
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, OSError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=720,
)
def analyse_ahead(session_id: str) -> dict[str, Any]:
    """While an exam is under way: analyse the webcam's newly arrived stretch, so flags are ready at submit.
    A stretch lost with its worker is analysed by the next call, or by the final analysis."""
    return {"session": session_id, "stretches": analysis_ahead(session_id=session_id)}
