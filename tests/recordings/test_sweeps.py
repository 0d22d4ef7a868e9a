"""The scheduled sweeps: attempts whose page vanished are timed out, and their recordings finalised
after the upload grace, with the missing chunks recorded as technical gaps."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.conf import settings

from exams.models import SessionStatus
from exams.services import session_begin, session_checks_passed, session_consent
from exams.tasks import time_out_expired_attempts
from proctor.attestations import identity_attest
from recordings.models import RecordingGap
from recordings.services import recording_append_chunk, recording_start
from recordings.tasks import finalise_abandoned_recordings
from tests.conftest import World
from tests.media import make_webm, split


def started(world: World) -> object:
    student = world.users["student"]
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=student)
    session_checks_passed(
        session_id=world.session.pk,
        results={"camera": "ok"},
        identity_attestation=identity_attest(user_id=student.pk, reference=str(world.session.pk), method="face_match"),
        actor=student,
    )
    return session_begin(session_id=world.session.pk, actor=student)


def test_an_abandoned_attempt_is_timed_out_then_its_recording_finalised(world: World) -> None:
    session = started(world)
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    chunks = split(make_webm(seconds=2.0), [800])
    for seq in (0, 1, 3):  # chunk 2 never arrived
        recording_append_chunk(recording=recording, seq=seq, data=chunks[seq])

    assert time_out_expired_attempts() == 0  # time left: nothing happens
    with time_machine.travel(session.deadline + timedelta(minutes=1)):
        assert time_out_expired_attempts() == 1
        assert time_out_expired_attempts() == 0  # idempotent
    session.refresh_from_db()
    assert session.status == SessionStatus.TIMED_OUT

    with time_machine.travel(session.ended_at + timedelta(minutes=14)):
        assert finalise_abandoned_recordings() == 0  # still within the upload grace
    with time_machine.travel(session.ended_at + timedelta(minutes=16)):
        assert finalise_abandoned_recordings() == 1
    recording.refresh_from_db()
    assert recording.status == "finalised"
    assert list(RecordingGap.objects.values_list("first_missing_seq", "last_missing_seq")) == [(2, 2)]


def test_the_sweeps_are_on_the_beat_schedule() -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"exams.time_out_expired_attempts", "recordings.finalise_abandoned"} <= tasks
