"""The broker (or Redis) goes down while students finish: submit and finalise still answer as usual,
and the playback copies and analyses that became due are queued once the broker is back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from celery import Celery, current_app
from django.urls import reverse
from django.utils import timezone

from exams.models import SessionStatus
from exams.services import session_transition
from proctor.celery import app as invigil_app
from proctor.models import QueuedTask
from proctor.outbox import outbox_flush
from recordings.models import Recording
from recordings.services import ANALYSIS_TASK, PLAYBACK_TASK, recording_append_chunk, recording_start
from tests.conftest import World, client_as, state_purpose
from tests.media import make_webm, split

pytestmark = pytest.mark.django_db(transaction=True)
S = SessionStatus


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable_broker() -> Celery:
    """A Celery app whose broker is a port where nothing listens, as when Redis is down."""
    down = Celery("broker-down", broker=f"redis://127.0.0.1:{closed_port()}/0", set_as_current=False)
    # Refuse at once: production's reconnection attempts take seconds and prove nothing more here.
    down.conf.task_publish_retry = False
    down.conf.broker_transport_options = {"max_retries": 0}
    return down


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Celery's current app is one whose broker cannot be reached."""
    unreachable_broker().set_current()
    try:
        yield
    finally:
        invigil_app.set_current()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """What reaches the (working) broker, recorded instead of delivered."""
    messages: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(invigil_app, "send_task", lambda name, args: messages.append((name, args)))
    return messages


def submitted_with_a_recording(world: World) -> Recording:
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    recording = recording_start(session=world.session, kind="webcam", mime_type="video/webm", actor=None)
    webm = make_webm(seconds=1.0)
    for seq, data in enumerate(split(webm, [len(webm) // 2 + 1])):
        recording_append_chunk(recording=recording, seq=seq, data=data)
    return recording


def test_finalise_answers_as_usual_while_the_broker_is_down_and_its_tasks_go_once_it_is_back(
    world: World, broker_down: None, sent: list[tuple[str, list[str]]]
) -> None:
    recording = submitted_with_a_recording(world)
    client = client_as(world, "student")
    submitted = client.post(reverse("api_session_submit", args=[world.session.pk]))
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == S.SUBMITTED

    finalised = client.post(reverse("api_recordings_finalise", args=[world.session.pk]))
    assert finalised.status_code == 200, finalised.content
    assert finalised.json() == {"finalised": 1, "gaps": 0}
    recording.refresh_from_db()
    assert recording.status == "finalised"
    waiting = sorted(QueuedTask.objects.values_list("task", "args"))
    assert waiting == sorted([(PLAYBACK_TASK, [str(recording.pk)]), (ANALYSIS_TASK, [str(world.session.pk)])])

    # The sweep while the broker is still down sends nothing and loses nothing.
    later = timezone.now() + timedelta(minutes=2)
    with time_machine.travel(later):
        assert outbox_flush() == 0
    assert QueuedTask.objects.count() == 2

    invigil_app.set_current()  # the broker is back
    assert current_app.main == invigil_app.main
    assert outbox_flush() == 0  # too fresh: their own commit hooks may still be sending them
    with time_machine.travel(later):
        assert outbox_flush() == 2
        assert outbox_flush() == 0
    assert sorted(sent) == waiting
    assert not QueuedTask.objects.exists()


def test_a_working_broker_gets_the_tasks_at_commit_and_the_outbox_keeps_nothing(
    world: World, sent: list[tuple[str, list[str]]]
) -> None:
    recording = submitted_with_a_recording(world)
    client = client_as(world, "student")
    client.post(reverse("api_session_submit", args=[world.session.pk]))
    assert client.post(reverse("api_recordings_finalise", args=[world.session.pk])).status_code == 200
    assert sent == [(PLAYBACK_TASK, [str(recording.pk)]), (ANALYSIS_TASK, [str(world.session.pk)])]
    assert not QueuedTask.objects.exists()


def test_the_sweep_sends_at_most_its_limit_oldest_first(world: World, sent: list[tuple[str, list[str]]]) -> None:
    QueuedTask.objects.bulk_create(QueuedTask(task=PLAYBACK_TASK, args=[str(n)]) for n in range(5))
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_flush(limit=3) == 3
        assert [args for _, args in sent] == [["0"], ["1"], ["2"]]
        assert outbox_flush(limit=3) == 2
    assert not QueuedTask.objects.exists()


def test_the_outbox_sweep_is_on_the_beat_schedule() -> None:
    from django.conf import settings

    assert "proctor.outbox_flush" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_a_playback_copy_held_back_by_the_broker_is_made_by_a_worker_once_it_is_back(
    world: World, celery_worker_process: Any
) -> None:
    recording = submitted_with_a_recording(world)
    session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    unreachable_broker().set_current()
    try:
        client = client_as(world, "student")
        assert client.post(reverse("api_recordings_finalise", args=[world.session.pk])).status_code == 200
    finally:
        invigil_app.set_current()
    assert QueuedTask.objects.filter(task=PLAYBACK_TASK).exists()
    # Only the copy: an analysis still running in the shared worker would write into the next test.
    QueuedTask.objects.filter(task=ANALYSIS_TASK).delete()

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_flush() == 1
    deadline = time.monotonic() + 60
    while not Recording.objects.get(pk=recording.pk).playback_name and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Recording.objects.get(pk=recording.pk).playback_name, "the worker made no playback copy"


def test_retrying_a_failed_analysis_while_the_broker_is_down_answers_as_usual_and_waits_in_the_outbox(
    world: World, broker_down: None
) -> None:
    for status in (S.CONSENTED, S.READY, S.STARTED, S.SUBMITTED, S.ANALYSING, S.ANALYSIS_FAILED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    reviewer = client_as(world, "reviewer")
    state_purpose(reviewer, world.session)
    retried = reviewer.post(reverse("review_reanalyse", args=[world.session.pk]), follow=True)
    assert retried.status_code == 200
    assert "The analysis will run again" in retried.content.decode()
    assert list(QueuedTask.objects.values_list("task", "args")) == [(ANALYSIS_TASK, [str(world.session.pk)])]


def test_submit_answers_as_usual_while_the_channel_layer_is_down(world: World, settings: Any) -> None:
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port()}/0"]},
        }
    }
    submitted = client_as(world, "student").post(reverse("api_session_submit", args=[world.session.pk]))
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == S.SUBMITTED
