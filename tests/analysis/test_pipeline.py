"""The analysis pipeline through its services: flags and their fields, idempotence, failure states,
accommodations, sensitivity, evidence thumbnails, progress and the audit of template reads."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from analysis.models import AnalysisRun, Flag, RunStatus
from analysis.rules import FALSE_ALARM_CAUSES, Kind
from analysis.services import (
    Outcome,
    analysis_requeue_stalled,
    analysis_retry,
    analysis_run,
    analysis_run_complete,
    analysis_run_start,
)
from analysis.tasks import analyse_session
from exams.models import ExamBreak, SessionStatus
from exams.services import exam_group, session_transition
from proctor.crypto import DecryptionError
from proctor.models import AuditEvent
from recordings.models import Recording
from recordings.selectors import recording_open_thumbnail
from recordings.services import ANALYSIS_TASK, recording_append_chunk, recording_finalise, recording_start
from tests import scenarios
from tests.analysis.conftest import record_attempt
from tests.conftest import World
from tests.factories import AccommodationFactory
from tests.media import make_webm

S = SessionStatus


def flags_of(session: Any) -> list[tuple[str, float, float]]:
    return list(Flag.objects.filter(session=session).values_list("kind", "start_seconds", "end_seconds"))


def recorded(world: World, name: str, **extra: Any) -> Any:
    item = scenarios.scenario(name)
    return record_attempt(world, webm=scenarios.recording(item), seconds=item.seconds, **extra)


def test_every_flag_says_what_when_how_sure_why_and_by_which_detector(enrolled: World) -> None:
    attempt = recorded(enrolled, "different_person")
    analysis_run(session_id=attempt.session.pk)

    flag = Flag.objects.get(session=attempt.session)
    assert (flag.kind, flag.category, flag.severity) == ("face_mismatch", "concern", "high")
    assert 67 <= flag.start_seconds <= 73
    assert 97 <= flag.end_seconds <= 103
    assert 0.5 < flag.confidence <= 1
    assert flag.reason.startswith("The face on the webcam did not match the face enrolled for this student from 1:")
    assert (flag.detector, flag.detector_version) == ("face-verification", "2.0")
    assert flag.thresholds == {
        "sensitivity": "standard",
        "min_seconds": 3,
        "merge_gap_seconds": 2.0,
        "match_distance": 0.6,
    }
    assert flag.detail["distance"] > 0.6
    assert flag.detail["false_alarm_causes"] == list(FALSE_ALARM_CAUSES[Kind.FACE_MISMATCH])
    assert "glasses, a new haircut or a face covering" in flag.false_alarm_causes
    run = AnalysisRun.objects.get(session=attempt.session)
    assert (run.status, run.progress) == (RunStatus.SUCCEEDED, 100)
    assert run.score == run.score_breakdown["value"] > 0
    assert run.score_breakdown["lines"][0]["kind"] == "face_mismatch"


def test_the_evidence_thumbnail_is_sealed_under_the_recordings_key_and_opens_to_a_picture(enrolled: World) -> None:
    attempt = recorded(enrolled, "second_face")
    analysis_run(session_id=attempt.session.pk)

    flag = Flag.objects.filter(session=attempt.session).first()
    assert flag is not None
    assert flag.evidence_recording_id == attempt.webcam.pk
    sealed = bytes(flag.evidence_thumbnail)
    assert b"JFIF" not in sealed  # not readable as stored
    jpeg = recording_open_thumbnail(recording=attempt.webcam, moment=flag.evidence_seconds, sealed=sealed)
    assert Image.open(io.BytesIO(jpeg)).size == (160, 120)
    with pytest.raises(DecryptionError):  # bound to its moment: it opens for no other
        recording_open_thumbnail(recording=attempt.webcam, moment=flag.evidence_seconds + 1, sealed=sealed)


def test_running_the_analysis_twice_gives_the_same_flags_and_no_duplicates(enrolled: World) -> None:
    attempt = recorded(enrolled, "nobody")
    first = analyse_session(str(attempt.session.pk))
    flags = flags_of(attempt.session)
    second = analyse_session(str(attempt.session.pk))

    assert first["outcome"] == "ready for review"
    assert second == {"session": str(attempt.session.pk), "outcome": "nothing to do", "status": S.READY_FOR_REVIEW}
    assert flags_of(attempt.session) == flags
    assert len(flags) == 2
    assert AnalysisRun.objects.filter(session=attempt.session).count() == 1


def test_a_run_whose_worker_stopped_is_taken_over_and_only_the_new_one_writes(enrolled: World) -> None:
    attempt = recorded(enrolled, "nobody")
    stopped = analysis_run_start(session_id=attempt.session.pk)
    assert stopped is not None
    assert analysis_run(session_id=attempt.session.pk)["outcome"] == "nothing to do"  # it is still alive

    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        result = analysis_run(session_id=attempt.session.pk)
    assert result["outcome"] == "ready for review"
    stopped.refresh_from_db()
    assert stopped.status == RunStatus.ABANDONED
    # The stopped worker, had it come back, can no longer write anything.
    late = Outcome(events=[], score=None, recorded_seconds=0)  # type: ignore[arg-type]
    assert analysis_run_complete(run_id=stopped.pk, outcome=late, cpu_seconds=0) is False
    assert len(flags_of(attempt.session)) == 2


def test_a_corrupt_recording_ends_in_analysis_failed_with_the_reason(enrolled: World) -> None:
    data = scenarios.recording(scenarios.scenario("clean"))
    corrupt = data[:4] + bytes(b ^ 0x5A for b in data[4:200_000])
    attempt = record_attempt(enrolled, webm=corrupt, seconds=10)

    result = analyse_session(str(attempt.session.pk))

    assert result["outcome"] == "failed"
    attempt.session.refresh_from_db()
    assert attempt.session.status == S.ANALYSIS_FAILED
    run = AnalysisRun.objects.get(session=attempt.session)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason.startswith("The webcam recording (part 1) could not be analysed")
    failed = attempt.session.transitions.get(to_status=S.ANALYSIS_FAILED)
    assert failed.reason.startswith("Automated analysis failed: The webcam recording")
    assert not Flag.objects.filter(session=attempt.session).exists()
    # A second delivery does not loop: the session waits for a person (or a retry).
    assert analyse_session(str(attempt.session.pk))["outcome"] == "nothing to do"


def test_an_empty_recording_fails_clearly_and_a_person_can_retry(enrolled: World) -> None:
    attempt = record_attempt(enrolled, webm=None, seconds=10)
    recording = recording_start(session=attempt.session, kind="webcam", mime_type="video/webm", actor=None)
    recording_finalise(recording_id=recording.pk, actor=None)

    analysis_run(session_id=attempt.session.pk)
    run = AnalysisRun.objects.get(session=attempt.session)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == (
        "The webcam and microphone recording is empty: it was started, but no part of it reached the server."
    )

    analysis_retry(session_id=attempt.session.pk, actor=enrolled.users["instructor"], reason="Try again")
    attempt.session.refresh_from_db()
    assert attempt.session.status == S.ANALYSING
    assert attempt.session.transitions.get(from_status=S.ANALYSIS_FAILED).actor == enrolled.users["instructor"]


def test_nothing_is_flagged_while_the_student_is_on_a_break_their_accommodation_allows(world: World) -> None:
    # Issue 15, item 4: the tab was hidden from 60 s to 90 s, during a break from 50 s to 95 s; a
    # second hiding at 300 s, after the break, is still flagged.
    attempt = record_attempt(
        world,
        webm=None,
        seconds=600,
        signals=[("tab_hidden", 60), ("tab_visible", 90), ("tab_hidden", 300), ("tab_visible", 330)],
    )
    began = attempt.session.started_at
    assert began is not None
    ExamBreak.objects.create(
        session=attempt.session,
        started_at=began + timedelta(seconds=50),
        ended_at=began + timedelta(seconds=95),
        allowed_seconds=600,
        deadline_before=began + timedelta(minutes=60),
    )
    analysis_run(session_id=attempt.session.pk)

    hidden = Flag.objects.filter(session=attempt.session, kind="tab_hidden")
    assert [(f.start_seconds, f.end_seconds) for f in hidden] == [(300, 330)]
    assert (
        "1 break (1 min in all): nothing flagged during them"
        in AnalysisRun.objects.get(session=attempt.session).exemptions
    )


def test_a_session_without_recordings_is_analysed_from_its_browser_signals(world: World) -> None:
    world.exam.record_screen = True
    world.exam.save()
    attempt = record_attempt(
        world, webm=None, seconds=600, signals=[("tab_hidden", 60), ("tab_visible", 90), ("camera_ended", 100)]
    )
    analysis_run(session_id=attempt.session.pk)

    flags = Flag.objects.filter(session=attempt.session).order_by("start_seconds", "kind")
    assert [(f.kind, f.category, f.start_seconds, f.end_seconds) for f in flags] == [
        ("screen_not_recorded", "technical", 0, 600),  # required, never recorded: said, not ignored
        ("webcam_not_recorded", "technical", 0, 600),
        ("tab_hidden", "concern", 60, 90),
        ("camera_lost", "technical", 100, 600),
    ]
    assert all(f.severity == "info" and "not misconduct" in f.reason for f in flags if f.category == "technical")
    run = AnalysisRun.objects.get(session=attempt.session)
    assert run.score_breakdown["lines"] == [
        {
            "kind": "tab_hidden",
            "label": "Exam tab hidden",
            "flags": 1,
            "minutes": 0.5,
            "weight": 2.0,
            "contribution": 6.0,
        },
        {
            "kind": "camera_lost",
            "label": "Camera lost",
            "flags": 1,
            "minutes": 8.33,
            "weight": 0.0,
            "contribution": 0.0,
        },
        {
            "kind": "webcam_not_recorded",
            "label": "No webcam recording",
            "flags": 1,
            "minutes": 10.0,
            "weight": 0.0,
            "contribution": 0.0,
        },
        {
            "kind": "screen_not_recorded",
            "label": "No screen recording",
            "flags": 1,
            "minutes": 10.0,
            "weight": 0.0,
            "contribution": 0.0,
        },
    ]


def test_missing_chunks_become_a_technical_gap_flag_never_a_concern(enrolled: World) -> None:
    attempt = recorded(enrolled, "clean", skip_chunks={20, 21, *range(50, 60)})  # the last 30 s never came
    analysis_run(session_id=attempt.session.pk)

    flags = Flag.objects.filter(session=attempt.session).order_by("start_seconds")
    assert [(f.kind, f.category, f.start_seconds, f.end_seconds) for f in flags] == [
        ("recording_gap", "technical", 60, 66),
        ("webcam_not_recorded", "technical", 150, 180),
    ]


def test_chunks_sent_without_a_client_time_are_placed_by_the_servers_receive_time(enrolled: World) -> None:
    attempt = recorded(enrolled, "nobody", client_times=False)  # away 50-70 s and 120-127 s
    assert not attempt.webcam.chunks.exclude(client_time=None).exists()

    result = analysis_run(session_id=attempt.session.pk)

    assert result["outcome"] == "ready for review"
    flags = flags_of(attempt.session)
    assert [kind for kind, _, _ in flags] == ["no_face", "no_face"]
    for (_, start, end), (true_start, true_end) in zip(flags, [(50, 70), (120, 127)], strict=True):
        assert abs(start - true_start) <= 1.5
        assert abs(end - true_end) <= 1.5


def test_a_chunk_time_far_from_the_servers_clock_is_taken_as_unknown(enrolled: World) -> None:
    session = enrolled.session
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    data = make_webm(seconds=1)
    recording_append_chunk(recording=recording, seq=0, data=data, client_time=timezone.now() - timedelta(days=3))
    recording_append_chunk(recording=recording, seq=1, data=b"more", client_time=timezone.now())

    assert list(recording.chunks.order_by("seq").values_list("client_time", flat=True))[0] is None
    assert recording.chunks.get(seq=1).client_time is not None


def test_a_damaged_stored_chunk_fails_the_analysis_clearly(enrolled: World) -> None:
    attempt = recorded(enrolled, "clean")
    chunk = attempt.webcam.chunks.get(seq=5)
    with default_storage.open(chunk.storage_name, "rb") as stored:
        sealed = bytearray(stored.read())
    sealed[-40] ^= 0xFF
    default_storage.delete(chunk.storage_name)
    default_storage.save(chunk.storage_name, ContentFile(bytes(sealed)))

    result = analysis_run(session_id=attempt.session.pk)

    assert result["outcome"] == "failed"
    assert result["reason"] == "The webcam recording (part 1) could not be decrypted: a stored chunk is damaged."
    attempt.session.refresh_from_db()
    assert attempt.session.status == S.ANALYSIS_FAILED


def test_a_session_that_stops_every_worker_fails_after_three_tries_instead_of_looping(enrolled: World) -> None:
    attempt = recorded(enrolled, "clean")
    later = timezone.now()
    for _ in range(3):
        assert analysis_run_start(session_id=attempt.session.pk) is not None
        later += timedelta(minutes=10)  # each worker dies silently
        AnalysisRun.objects.filter(status=RunStatus.RUNNING).update(heartbeat_at=later - timedelta(hours=1))
    with time_machine.travel(later):
        assert analysis_run_start(session_id=attempt.session.pk) is None

    attempt.session.refresh_from_db()
    assert attempt.session.status == S.ANALYSIS_FAILED
    assert "stopped 3 times" in attempt.session.transitions.get(to_status=S.ANALYSIS_FAILED).reason
    # A person's retry starts the count afresh, and this time it completes.
    analysis_retry(session_id=attempt.session.pk, actor=enrolled.users["instructor"], reason="Try again")
    assert analysis_run(session_id=attempt.session.pk)["outcome"] == "ready for review"


def test_an_accommodation_switches_its_detector_off_for_that_student(enrolled: World) -> None:
    AccommodationFactory(exam=enrolled.exam, student=enrolled.users["student"], speech_allowed=True)
    attempt = recorded(enrolled, "speech")
    analysis_run(session_id=attempt.session.pk)

    assert flags_of(attempt.session) == []
    assert AnalysisRun.objects.get(session=attempt.session).exemptions == ["speech allowed: voice-activity check off"]


def test_a_face_covering_turns_face_verification_off(enrolled: World) -> None:
    AccommodationFactory(exam=enrolled.exam, student=enrolled.users["student"], face_covering=True)
    attempt = recorded(enrolled, "different_person")
    analysis_run(session_id=attempt.session.pk)

    assert flags_of(attempt.session) == []
    assert not AuditEvent.objects.filter(action="identity.template_read").exists()  # the template was not even read


@pytest.mark.parametrize(("sensitivity", "expected"), [("low", 1), ("standard", 2), ("high", 2)])
def test_the_exams_sensitivity_sets_the_thresholds(enrolled: World, sensitivity: str, expected: int) -> None:
    enrolled.exam.sensitivity = sensitivity
    enrolled.exam.save()
    attempt = recorded(enrolled, "nobody")  # absences of 20 s and 7 s; "low" needs 10 s
    analysis_run(session_id=attempt.session.pk)

    flags = Flag.objects.filter(session=attempt.session)
    assert len(flags) == expected
    assert {f.thresholds["sensitivity"] for f in flags} == {sensitivity}


def test_the_template_read_is_audited_with_its_purpose(enrolled: World) -> None:
    attempt = recorded(enrolled, "clean")
    analysis_run(session_id=attempt.session.pk)

    event = AuditEvent.objects.get(action="identity.template_read")
    assert event.detail == {"purpose": "analysis", "reference": str(attempt.session.pk)}


def test_progress_is_broadcast_to_the_exams_review_group_while_it_runs(
    enrolled: World, django_capture_on_commit_callbacks: Any
) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(exam_group(enrolled.exam.pk), channel)
    attempt = recorded(enrolled, "clean")

    with django_capture_on_commit_callbacks(execute=True):
        analysis_run(session_id=attempt.session.pk)

    async def drain() -> list[dict[str, Any]]:
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout=1))
            except TimeoutError:
                return messages

    progress = [m for m in async_to_sync(drain)() if m["type"] == "analysis.progress"]
    assert progress[0]["stage"].startswith("Analysing the webcam recording")
    assert progress[0]["session_id"] == str(attempt.session.pk)
    assert [m["progress"] for m in progress] == sorted(m["progress"] for m in progress)
    assert (progress[-1]["status"], progress[-1]["progress"]) == (RunStatus.SUCCEEDED, 100)


def test_the_task_is_robust_by_configuration() -> None:
    assert analyse_session.name == ANALYSIS_TASK
    assert current_app.amqp.router.route({}, ANALYSIS_TASK)["queue"].name == "analysis"
    assert analyse_session.acks_late
    assert analyse_session.reject_on_worker_lost
    assert analyse_session.soft_time_limit < analyse_session.time_limit
    assert analyse_session.retry_backoff
    assert analyse_session.max_retries


def test_stalled_and_lost_analyses_are_queued_again(enrolled: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("analysis.services.current_app.send_task", lambda name, args: sent.append((name, args)))
    attempt = recorded(enrolled, "clean")  # ended, recordings final, analysis message lost

    assert analysis_requeue_stalled() == 0  # too recent to call lost
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert analysis_requeue_stalled() == 1
    assert sent == [(ANALYSIS_TASK, [str(attempt.session.pk)])]

    run = analysis_run_start(session_id=attempt.session.pk)  # a live run: left alone
    assert run is not None
    sent.clear()
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        assert analysis_requeue_stalled() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):  # its worker went silent
        assert analysis_requeue_stalled() == 1


def test_finalising_the_last_recording_queues_the_analysis_after_commit(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[str] = []
    monkeypatch.setattr("recordings.services.current_app.send_task", lambda name, args: sent.append(name))
    attempt = record_attempt(world, webm=None, seconds=10)
    webcam = recording_start(session=attempt.session, kind="webcam", mime_type="video/webm", actor=None)
    screen = recording_start(session=attempt.session, kind="screen", mime_type="video/webm", actor=None)

    with django_capture_on_commit_callbacks(execute=True):
        recording_finalise(recording_id=webcam.pk, actor=None)
    assert ANALYSIS_TASK not in sent  # the screen is still uploading
    with django_capture_on_commit_callbacks(execute=True):
        recording_finalise(recording_id=screen.pk, actor=None)
    assert sent.count(ANALYSIS_TASK) == 1
    assert Recording.objects.filter(session=attempt.session).count() == 2


def test_a_browser_signal_flag_shows_the_screen_as_it_was_then(world: World) -> None:
    world.exam.record_screen = True
    world.exam.save()
    attempt = record_attempt(
        world,
        webm=None,
        seconds=30,
        screen=make_webm(seconds=30, audio=False),
        signals=[("tab_hidden", 12), ("tab_visible", 20)],
    )
    analysis_run(session_id=attempt.session.pk)

    flag = Flag.objects.get(session=attempt.session, kind="tab_hidden")
    screen = Recording.objects.get(session=attempt.session, kind="screen")
    assert (flag.kind, flag.evidence_recording_id, flag.evidence_seconds) == ("tab_hidden", screen.pk, 12)
    jpeg = recording_open_thumbnail(recording=screen, moment=12, sealed=bytes(flag.evidence_thumbnail))
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"


@pytest.mark.real_analysis  # it watches that no face is compared inside the detectors
def test_a_student_who_withdrew_from_face_matching_gets_no_face_comparison_at_all(
    enrolled: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from identity.services import biometric_consent_withdraw

    biometric_consent_withdraw(user=enrolled.users["student"])

    def no_encoding(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("a face was encoded for a student who did not agree to face matching")

    monkeypatch.setattr("analysis.vision.face_distance", no_encoding)
    attempt = recorded(enrolled, "different_person")
    analysis_run(session_id=attempt.session.pk)

    run = AnalysisRun.objects.get(session=attempt.session)
    assert run.status == RunStatus.SUCCEEDED
    assert not Flag.objects.filter(session=attempt.session, kind="face_mismatch").exists()
    assert "the student did not agree to face matching: face verification off, no template read" in run.exemptions
    assert not AuditEvent.objects.filter(action="identity.template_read").exists()
