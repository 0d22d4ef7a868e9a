"""The demo's recorded attempt: ``seed_demo_recordings`` leaves one flagged attempt, made through the
real services, whose webcam and screen a reviewer can play; a second run changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from analysis.models import AnalysisRun, Flag
from exams.models import Exam, ExamSession, SessionStatus
from identity.models import IdentityCheck, IdentityProfile
from proctor.models import AuditEvent
from recordings.models import BrowserSignal, Recording, RecordingChunk, RecordingStatus
from review.demo import media
from review.selectors import session_review

#: Seconds a flag's ends may differ from the storyline's: the detectors sample a few frames a second.
TOLERANCE = 3.0


@pytest.fixture
def seed(db: None, demo_media_encoded_once: None) -> Any:
    def run() -> str:
        out = io.StringIO()
        call_command("seed_demo_recordings", stdout=out)
        return out.getvalue()

    return run


def test_the_demo_holds_one_flagged_attempt_with_webcam_and_screen_ready_to_play(seed: Any) -> None:
    output = seed()

    session = ExamSession.objects.select_related("student", "exam").get(status=SessionStatus.READY_FOR_REVIEW)
    assert (session.student.username, session.exam.title, session.exam.course.code) == (
        "student2",
        "Quiz 1: kinematics",
        "PHYS101",
    )
    recordings = {r.kind: r for r in Recording.objects.filter(session=session)}
    assert sorted(recordings) == ["screen", "webcam"]
    for recording in recordings.values():
        assert recording.status == RecordingStatus.FINALISED
        assert recording.playback_name
        assert recording.duration_seconds == pytest.approx(media.DEMO_SECONDS, abs=1)
        assert not recording.gaps.exists()

    flags = list(Flag.objects.filter(session=session).order_by("start_seconds"))
    assert [flag.kind for flag in flags] == [kind for kind, _, _ in media.DEMO_FLAGS]
    for flag, (_, start, end) in zip(flags, media.DEMO_FLAGS, strict=True):
        assert flag.start_seconds == pytest.approx(start, abs=TOLERANCE)
        assert flag.end_seconds == pytest.approx(end, abs=TOLERANCE)
    # Each flag has its picture: the webcam's for what the camera saw, the screen's for the tab switch.
    assert [flag.evidence_recording.kind for flag in flags if flag.evidence_recording] == ["webcam", "webcam", "screen"]
    assert all(flag.evidence_thumbnail for flag in flags)

    # The review page places both recordings at the attempt's start, and the attempt lasts as long as they do.
    review = session_review(session)
    assert [part.offset for part in review.webcam + review.screen] == [0.0, 0.0]
    assert review.recorded_seconds == pytest.approx(media.DEMO_SECONDS, abs=5)
    assert review.signals == [(74.0, "Exam tab hidden"), (80.0, "Exam tab visible again")]

    assert "Encoding the demo webcam recording" in output
    assert f"/review/sessions/{session.pk}/" in output
    assert "Exam tab hidden" in output


def counts() -> dict[str, int]:
    models = (
        Exam,
        ExamSession,
        Recording,
        RecordingChunk,
        BrowserSignal,
        AnalysisRun,
        Flag,
        IdentityProfile,
        IdentityCheck,
        AuditEvent,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_a_second_run_changes_nothing_and_says_so(seed: Any) -> None:
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "already present" in output
    assert "nothing changed" in output
    assert "Encoding" not in output


def test_it_refuses_to_run_in_production() -> None:
    with override_settings(PRODUCTION=True), pytest.raises(CommandError, match="never runs in production"):
        call_command("seed_demo_recordings", stdout=io.StringIO())
