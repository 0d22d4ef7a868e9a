"""Analysis on real Celery workers: queued when the recordings are final, run on the analysis queue,
completed by a later run when a worker is killed in the middle, with no duplicate flags, and run
again when a reviewer retries a failed one."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from analysis.models import AnalysisRun, Flag, RunStatus
from analysis.services import analysis_requeue_stalled, analysis_run_fail, analysis_run_start
from analysis.tasks import analyse_session
from exams.models import ExamSession, SessionStatus
from proctor.celery import app as invigil_app
from proctor.models import QueuedTask
from tests import scenarios
from tests.analysis.conftest import enrol, record_attempt
from tests.conftest import World, client_as, start_celery_worker, state_purpose, stop_celery_worker

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


def test_a_reviewer_retrying_a_failed_analysis_has_a_worker_run_it(
    world: World, celery_worker_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The analysis that finalisation queues is kept from the worker: this attempt's first run fails here.
    with monkeypatch.context() as patched:
        patched.setattr(invigil_app, "send_task", lambda name, args: None)
        attempt = record_attempt(world, webm=None, seconds=10, signals=[("tab_hidden", 2), ("tab_visible", 5)])
    run = analysis_run_start(session_id=attempt.session.pk)
    assert run is not None
    analysis_run_fail(run_id=run.pk, reason="The worker's disk was full.")
    assert ExamSession.objects.get(pk=attempt.session.pk).status == SessionStatus.ANALYSIS_FAILED

    reviewer = client_as(world, "reviewer")
    state_purpose(reviewer, attempt.session)
    retried = reviewer.post(reverse("review_reanalyse", args=[attempt.session.pk]))
    assert retried.status_code == 302
    wait_for(
        lambda: ExamSession.objects.get(pk=attempt.session.pk).status == SessionStatus.READY_FOR_REVIEW,
        60,
        "the worker to run the retried analysis",
    )
    runs = AnalysisRun.objects.filter(session=attempt.session).order_by("pk").values_list("status", flat=True)
    assert list(runs) == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert "tab_hidden" in set(Flag.objects.filter(session=attempt.session).values_list("kind", flat=True))
    assert not QueuedTask.objects.exists()  # the broker took the retry at once
