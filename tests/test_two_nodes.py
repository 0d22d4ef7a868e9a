"""Two machines with no shared filesystem: each runs Daphne and a Celery worker with its own local folders,
and they share only PostgreSQL, Redis and the object store (media, audit anchors and the period keys). A
student whose socket drops and reconnects to the other machine mid-exam loses nothing, and a worker on
each machine does its part of the work after submit."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import ClientConnection, connect

from exams.models import ExamSession, SessionStatus
from exams.services import session_transition
from proctor.keys import keystore
from proctor.keystore import ObjectKeyStore
from recordings import protocol
from recordings.models import Recording
from recordings.selectors import recording_plaintext
from recordings.services import ANALYSIS_TASK, PLAYBACK_TASK
from recordings.tokens import stream_token_for
from tests.conftest import AsgiServer, World, start_celery_worker, stop_celery_worker, subprocess_env
from tests.media import make_webm, split
from tests.recordings.test_consumer import cookie_for
from tests.s3 import ANCHOR_BUCKET, MEDIA_BUCKET, REGION, S3Media

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
        reason="machines share PostgreSQL and Redis; the embedded defaults are local to one machine",
    ),
    pytest.mark.django_db(transaction=True),
]
#: The nodes' broker and channel layer: a Redis database of their own on the test run's server, so a
#: worker another test started for the whole run (on database 0) never takes their tasks.
NODES_REDIS_DB = 9


@dataclass
class Node:
    """One machine: Daphne and a Celery worker, each with local folders no other machine sees."""

    name: str
    folder: Path
    server: AsgiServer
    worker: Any


def node_settings(folder: Path, media: S3Media, keystore_prefix: str) -> dict[str, str]:
    """The environment of one machine's processes, over the test run's own (subprocess_env)."""
    from django.conf import settings

    server = media.server
    redis = urlsplit(os.environ["REDIS_URL"])._replace(path=f"/{NODES_REDIS_DB}").geturl()
    return {
        "INVIGIL_DATA_DIR": str(folder),
        "INVIGIL_KEYSTORE_DIR": str(folder / "keystore"),
        "SECRET_KEY": settings.SECRET_KEY,
        "REDIS_URL": redis,
        "MEDIA_STORAGE": "s3",
        "S3_BUCKET": MEDIA_BUCKET,
        "S3_PREFIX": media.prefix,
        "S3_ENDPOINT_URL": server.endpoint_url,
        "S3_REGION": REGION,
        "S3_ACCESS_KEY_ID": server.access_key,
        "S3_SECRET_ACCESS_KEY": server.secret_key,
        "AUDIT_ANCHOR_BUCKET": ANCHOR_BUCKET,
        "AUDIT_ANCHOR_PREFIX": media.anchor_prefix,
        "INVIGIL_KEYSTORE_PREFIX": keystore_prefix,
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def keystore_prefix(s3_server: Any, settings: Any) -> str:
    """The period keys of this test in the object store, for the nodes and for this process alike."""
    prefix = f"keys-{uuid.uuid4().hex[:12]}"
    settings.STORAGES = {
        **settings.STORAGES,
        "keystore": {
            "BACKEND": "proctor.storage.ObjectStorage",
            "OPTIONS": s3_server.storage_options(bucket=MEDIA_BUCKET, prefix=prefix),
        },
    }
    return prefix


@pytest.fixture
def nodes(s3_media: S3Media, keystore_prefix: str, tmp_path: Path) -> Iterator[dict[str, Node]]:
    """Machines A and B. A's worker takes only the default queue (playback copies), B's only the
    analysis queue, so each must do its part."""
    started: dict[str, Node] = {}

    def start(name: str, queues: str) -> None:
        folder = tmp_path / f"node-{name}"
        (folder / "keystore").mkdir(parents=True)
        overrides = node_settings(folder, s3_media, keystore_prefix)
        node = started[name] = Node(name, folder, AsgiServer(subprocess_env(**overrides), folder / "daphne.log"), None)
        node.server.start()
        node.worker = start_celery_worker(f"node-{name}-{uuid.uuid4().hex[:6]}", queues=queues, **overrides)

    try:
        with ThreadPoolExecutor(2) as pool:  # the two machines start side by side, as they would
            list(pool.map(start, ("a", "b"), ("celery", "analysis")))
        yield started
    finally:
        for node in started.values():
            if node.worker is not None:
                stop_celery_worker(node.worker)
            node.server.stop()


def stream_socket(world: World, node: Node) -> ClientConnection:
    """The exam page's socket to ``node``; use it in a with block."""
    student = world.users["student"]
    token = stream_token_for(session_id=world.session.pk, user_id=student.pk)
    port = node.server.port
    return connect(
        f"ws://localhost:{port}/ws/sessions/{world.session.pk}/stream/?token={token}",
        additional_headers={"Cookie": cookie_for(student).decode(), "Origin": f"http://localhost:{port}"},
        open_timeout=20,
    )


def start_webcam(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "start", "stream": "webcam", "part": 0, "mime": "video/webm"}))
    started = json.loads(ws.recv(timeout=20))
    assert started["type"] == "started", started


def send_and_collect_acks(ws: ClientConnection, chunks: dict[int, bytes]) -> dict[int, str]:
    for seq, data in chunks.items():
        ws.send(protocol.chunk_frame_build(stream="webcam", seq=seq, data=data))
    outcomes: dict[int, str] = {}
    while len(outcomes) < len(chunks):
        reply = json.loads(ws.recv(timeout=30))
        assert reply["type"] == "ack", reply
        outcomes[reply["seq"]] = reply["outcome"]
    return outcomes


def post_as_student(world: World, node: Node, path: str) -> dict[str, Any]:
    """A POST from the exam page: the session cookie, and the CSRF token as the page sends it."""
    csrf = secrets.token_hex(16)  # Django takes an unmasked 32-character secret as well
    base = f"http://localhost:{node.server.port}"
    request = urllib.request.Request(  # noqa: S310 (our own server, on loopback)
        base + path,
        data=b"",
        method="POST",
        headers={
            "Cookie": f"{cookie_for(world.users['student']).decode()}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Origin": base,
            "Referer": base + "/",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (our own server, on loopback)
        return dict(json.load(answer))


def succeeded(node: Node, task: str) -> bool:
    """Whether this machine's worker logged that it ran the task to success."""
    return re.search(rf"{task}\[[^\]]+\] succeeded", node.worker.log.read_text()) is not None


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}")
        time.sleep(0.2)


def test_a_student_moved_to_the_other_machine_mid_exam_loses_nothing_and_both_machines_work(
    world: World, nodes: dict[str, Node]
) -> None:
    for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    webm = make_webm(seconds=4)
    chunks = dict(enumerate(split(webm, [len(webm) // 6 + 1])))
    half = len(chunks) // 2

    # Half the chunks to A, acknowledged; one more sent as the socket drops, its ack never read.
    with stream_socket(world, nodes["a"]) as on_a:
        start_webcam(on_a)
        acked = send_and_collect_acks(on_a, {seq: chunks[seq] for seq in range(half)})
        on_a.send(protocol.chunk_frame_build(stream="webcam", seq=half, data=chunks[half]))
        on_a.socket.shutdown(socket.SHUT_RDWR)

    # The page reconnects to B and re-sends everything not acknowledged.
    with stream_socket(world, nodes["b"]) as on_b:
        start_webcam(on_b)
        acked |= send_and_collect_acks(on_b, {seq: chunks[seq] for seq in range(half, len(chunks))})
    assert sorted(acked) == list(range(len(chunks)))
    assert set(acked.values()) <= {"stored", "duplicate"}

    assert post_as_student(world, nodes["b"], f"/api/sessions/{world.session.pk}/submit/")["status"] == "submitted"
    assert post_as_student(world, nodes["b"], f"/api/sessions/{world.session.pk}/finalise/") == {
        "finalised": 1,
        "gaps": 0,
    }
    recording = Recording.objects.get(session=world.session)
    assert b"".join(recording_plaintext(recording)) == webm

    # A's worker makes the playback copy, B's analyses: each reads what the other machine stored.
    wait_for(
        lambda: ExamSession.objects.get(pk=world.session.pk).status == SessionStatus.READY_FOR_REVIEW,
        120,
        "the analysis on B's worker",
    )
    wait_for(lambda: Recording.objects.get(pk=recording.pk).playback_name, 60, "the playback copy on A's worker")
    # The session's status is written inside the task, and the worker logs its success only after the
    # task returns: the log lines are waited for, not read at once.
    wait_for(lambda: succeeded(nodes["a"], PLAYBACK_TASK), 30, "A's worker to log the playback copy's success")
    wait_for(lambda: succeeded(nodes["b"], ANALYSIS_TASK), 30, "B's worker to log the analysis's success")

    # One period key, in the shared store; none in either machine's own folder.
    store = keystore()
    assert isinstance(store, ObjectKeyStore)
    assert len(store.periods()) == 1
    for node in nodes.values():
        assert not list((node.folder / "keystore").iterdir()), f"node {node.name} keeps keys of its own"
