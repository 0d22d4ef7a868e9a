"""A recorded, analysed and reviewed session for the privacy tests."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import pytest

from analysis.models import AnalysisRun, AnalysisSegment, Flag, RunStatus
from exams.models import ExamSession
from exams.models import SessionStatus as S
from exams.services import session_transition
from recordings.models import BrowserSignal
from recordings.services import (
    recording_append_chunk,
    recording_finalise,
    recording_make_playback_copy,
    recording_seal_thumbnail,
    recording_start,
)
from review.models import FlagDecision
from tests.conftest import World
from tests.media import make_webm, split

DAY = timedelta(days=1)


@functools.cache
def webcam_webm() -> bytes:
    """The webcam recording's plaintext, as the browser sent it."""
    return make_webm(seconds=2.0)


@pytest.fixture
def recorded(world: World) -> World:
    """The student's session: recorded, a playback copy, a stretch of analysis evidence, a browser
    signal, a flag with a sealed picture and a reviewer's verdict; the exam closed just now."""
    session = world.session
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    session.refresh_from_db()
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    for seq, chunk in enumerate(split(webcam_webm(), [15_000])):
        recording_append_chunk(recording=recording, seq=seq, data=chunk)
    BrowserSignal.objects.create(session=session, kind="tab_hidden", client_time=session.started_at)
    session_transition(session_id=session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    recording_finalise(recording_id=recording.pk, actor=None)
    recording_make_playback_copy(recording_id=recording.pk)
    # The analysis kept a stretch's evidence (times of absent faces and the like) with the recording.
    AnalysisSegment.objects.create(
        recording=recording,
        from_seconds=0,
        to_seconds=3,
        chunks=recording.chunks.count(),
        final=True,
        detectors="faces,voice",
        evidence=[{"kind": "no_face", "start": 1.0, "end": 2.0, "confidence": 0.9}],
    )
    session.refresh_from_db()
    dismissed_tab_flag(
        session,
        evidence_recording=recording,
        evidence_seconds=1.0,
        evidence_thumbnail=recording_seal_thumbnail(recording=recording, moment=1.0, jpeg=b"\xff\xd8picture"),
    )
    exam = world.exam
    exam.opens_at, exam.closes_at = exam.opens_at - DAY, session.ended_at
    exam.save()
    return world


def dismissed_tab_flag(session: ExamSession, **evidence: Any) -> Flag:
    """A finished analysis with one tab-hidden flag, which a reviewer dismissed."""
    run = AnalysisRun.objects.create(session=session, status=RunStatus.SUCCEEDED, score=1.0, sensitivity="standard")
    flag = Flag.objects.create(
        run=run,
        session=session,
        kind="tab_hidden",
        category="concern",
        start_seconds=1,
        end_seconds=2,
        severity="low",
        confidence=1,
        reason="The exam tab was hidden.",
        detector="browser-signals",
        detector_version="1",
        **evidence,
    )
    FlagDecision.objects.create(flag=flag, verdict="dismissed", note="fine", reviewer_name="Remi Reviewer")
    return flag


def closed(world: World) -> datetime:
    value = world.exam.closes_at
    assert value is not None
    return value
