"""Analysis on real Celery workers: queued when the recordings are final, run on the analysis queue,
and completed by a later run when a worker is killed in the middle, with no duplicate flags."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from typing import Any

import pytest

from analysis.models import AnalysisRun, Flag, RunStatus
from analysis.services import analysis_requeue_stalled
from analysis.tasks import analyse_session
from exams.models import ExamSession, SessionStatus
from tests import scenarios
from tests.analysis.conftest import enrol, record_attempt
from tests.conftest import World, start_celery_worker, stop_celery_worker

pytestmark = pytest.mark.django_db(transaction=True)
#: The worker treats a run silent for this long as stopped (3 minutes in production).
STALE = "2"


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}")


def test_a_worker_killed_mid_analysis_is_taken_over_and_the_rerun_completes(world: World) -> None:
    enrol(world.users["student"])
    item = scenarios.scenario("nobody")
    # Finalisation queues the analysis on the "analysis" queue; this test's first worker takes a
    # queue of its own so no other worker can pick the task up before it is killed.
    attempt = record_attempt(world, webm=scenarios.recording(item), seconds=item.seconds)
    doomed = start_celery_worker("analysis-doomed", queues="analysis-doomed", INVIGIL_ANALYSIS_STALE_SECONDS=STALE)
    try:
        analyse_session.apply_async(args=[str(attempt.session.pk)], queue="analysis-doomed")
        wait_for(
            lambda: AnalysisRun.objects.filter(
                session=attempt.session, status=RunStatus.RUNNING, progress__gt=0
            ).exists(),
            60,
            "the analysis to be under way",
        )
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert ExamSession.objects.get(pk=attempt.session.pk).status == SessionStatus.ANALYSING
    assert not Flag.objects.filter(session=attempt.session).exists()  # nothing half-written

    time.sleep(float(STALE) + 0.5)
    assert analysis_requeue_stalled(stale_after=timedelta(seconds=float(STALE))) >= 1
    rescuer = start_celery_worker("analysis-rescuer", queues="analysis", INVIGIL_ANALYSIS_STALE_SECONDS=STALE)
    try:
        wait_for(
            lambda: ExamSession.objects.get(pk=attempt.session.pk).status == SessionStatus.READY_FOR_REVIEW,
            120,
            "the re-run to complete",
        )
    finally:
        stop_celery_worker(rescuer)

    runs = list(AnalysisRun.objects.filter(session=attempt.session).values_list("status", flat=True))
    assert sorted(runs) == [RunStatus.ABANDONED, RunStatus.SUCCEEDED]
    flags = list(Flag.objects.filter(session=attempt.session).values_list("kind", "start_seconds", "end_seconds"))
    assert [kind for kind, _, _ in flags] == ["no_face", "no_face"]  # each event once, none duplicated
    for (_, start, end), truth in zip(flags, item.truth, strict=True):
        assert abs(start - truth.start) <= 3
        assert abs(end - truth.end) <= 3
