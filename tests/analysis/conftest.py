"""Helpers for the analysis tests: an enrolled student, and an attempt recorded from a scenario the
way the browser records it (numbered chunks of about three seconds, through the real services)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from PIL import Image

from exams.models import ExamSession, SessionStatus
from exams.services import session_transition
from identity.services import identity_enrol
from recordings.models import BrowserSignal, Recording
from recordings.services import recording_append_chunk, recording_finalise, recording_start
from review.demo.media import CHUNK_SECONDS, chunked
from tests import scenarios
from tests.conftest import World, agree_to_face_matching


def jpeg(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(scenarios.photo(name)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def enrol(user: Any, photo: str = scenarios.ENROL_PHOTO) -> None:
    agree_to_face_matching(user)
    identity_enrol(user=user, frames=[jpeg(photo)] * 3)


@dataclass
class Attempt:
    session: ExamSession
    webcam: Recording | None


def record_attempt(
    world: World,
    *,
    webm: bytes | None,
    seconds: float,
    signals: Sequence[tuple[str, float]] = (),
    skip_chunks: AbstractSet[int] = frozenset(),
    screen: bytes | None = None,
    client_times: bool = True,
) -> Attempt:
    """Start the world's session, upload ``webm`` as the webcam stream in numbered chunks with their
    browser times (or, with ``client_times=False``, with the protocol's "unknown" and each chunk arriving
    as it ends), record ``signals`` at their seconds, submit at ``seconds`` and finalise."""
    session = world.session
    for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    session.refresh_from_db()
    began = session.started_at
    assert began is not None
    webcam = (
        _upload(session, kind="webcam", webm=webm, seconds=seconds, began=began, skip=skip_chunks, known=client_times)
        if webm is not None
        else None
    )
    if screen is not None:
        _upload(session, kind="screen", webm=screen, seconds=seconds, began=began, skip=set())
    for kind, at in signals:
        BrowserSignal.objects.create(session=session, kind=kind, client_time=began + timedelta(seconds=at))
    with time_machine.travel(began + timedelta(seconds=seconds), tick=False):
        session_transition(session_id=session.pk, to_status=SessionStatus.SUBMITTED, actor=None, reason="test")
    for recording in Recording.objects.filter(session=session):
        recording_finalise(recording_id=recording.pk, actor=None)
    session.refresh_from_db()
    return Attempt(session, webcam)


def _upload(
    session: ExamSession,
    *,
    kind: str,
    webm: bytes,
    seconds: float,
    began: Any,
    skip: AbstractSet[int],
    known: bool = True,
) -> Recording:
    recording = recording_start(session=session, kind=kind, mime_type="video/webm;codecs=vp8,opus", actor=None)
    for seq, piece in enumerate(chunked(webm, seconds)):
        if seq in skip or not piece:
            continue
        if known:
            recording_append_chunk(
                recording=recording, seq=seq, data=piece, client_time=began + timedelta(seconds=seq * CHUNK_SECONDS)
            )
        else:
            # The chunk arrives as its media ends, a moment after: only the server's clock says when.
            with time_machine.travel(began + timedelta(seconds=(seq + 1) * CHUNK_SECONDS + 0.2), tick=False):
                recording_append_chunk(recording=recording, seq=seq, data=piece, client_time=None)
    return recording


@pytest.fixture
def world(world: World) -> World:
    """The cast's world, with an exam that records the webcam and microphone, as the scenarios do;
    tests that need the screen switch it on."""
    world.exam.record_screen = False
    world.exam.save()
    return world


@pytest.fixture
def enrolled(world: World) -> World:
    enrol(world.users["student"])
    return world
