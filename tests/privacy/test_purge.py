"""The retention purge keeps its promise to the day: nothing goes early, nothing stays late, held data
stays, a killed run is finished by the next, and purged media cannot be read even from a copy of the
storage taken before the purge."""

from __future__ import annotations

import io

import pytest
import time_machine
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from analysis.models import AnalysisSegment, Flag
from exams.models import ExamSession
from exams.models import SessionStatus as S
from identity.models import IdentityCheck, IdentityProfile
from identity.services import identity_enrol, identity_store_id_photo, identity_verify
from privacy import services
from privacy.models import LegalHold
from privacy.services import HoldError, hold_lift, hold_set, purge_due, purge_plan
from proctor import crypto
from proctor.keys import data_key_material
from proctor.models import AuditEvent, DataKey
from recordings.models import BrowserSignal, Recording, RecordingChunk
from recordings.services import (
    playback_label,
)
from review.models import FlagDecision
from tests.analysis.conftest import jpeg
from tests.conftest import World, agree_to_face_matching
from tests.privacy.conftest import DAY, closed

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def stored_names(session: ExamSession) -> list[str]:
    recording = Recording.objects.get(session=session)
    return [
        *RecordingChunk.objects.filter(recording=recording).values_list("storage_name", flat=True),
        recording.playback_name,
    ]


def test_recordings_stay_the_day_before_and_go_the_day_after_180_days(recorded: World) -> None:
    names = stored_names(recorded.session)
    with time_machine.travel(closed(recorded) + 180 * DAY - DAY):
        assert purge_due().recordings == 0
    assert Recording.objects.filter(session=recorded.session).exists()
    assert all(default_storage.exists(name) for name in names)

    with time_machine.travel(closed(recorded) + 180 * DAY + DAY):
        report = purge_due()
    assert report.recordings == 1
    assert not Recording.objects.filter(session=recorded.session).exists()
    assert not RecordingChunk.objects.exists()
    assert not BrowserSignal.objects.filter(session=recorded.session).exists()
    assert not any(default_storage.exists(name) for name in names)
    flag = Flag.objects.get(session=recorded.session)
    assert flag.evidence_thumbnail is None  # the picture goes; the flag's record and its verdict stay
    assert flag.reason == "The exam tab was hidden."
    assert FlagDecision.objects.filter(flag=flag).exists()
    event = AuditEvent.objects.get(action="retention.purge_recordings")
    assert event.actor_id is None
    assert event.detail["stored_objects"] == len(names)
    assert event.detail["signals"] == 1
    assert event.detail["evidence_pictures"] == 1
    assert event.detail["analysis_stretches"] == 1
    assert not AnalysisSegment.objects.exists()


def test_an_institution_with_a_shorter_period_purges_sooner(recorded: World) -> None:
    institution = recorded.course.institution
    institution.recording_retention_days = 30
    institution.save()
    with time_machine.travel(closed(recorded) + 29 * DAY):
        assert purge_due().recordings == 0
    with time_machine.travel(closed(recorded) + 31 * DAY):
        assert purge_due().recordings == 1


def test_purged_media_cannot_be_read_even_from_a_copy_of_the_storage_taken_before(recorded: World) -> None:
    recording = Recording.objects.select_related("data_key").get(session=recorded.session)
    label = playback_label(recording.pk)
    with default_storage.open(recording.playback_name, "rb") as stored:
        backup = stored.read()  # a copy of the storage, taken before the purge
    assert not backup.startswith(WEBM_MAGIC)  # sealed at rest
    assert crypto.open_sealed(data_key_material(recording.data_key), label=label, ciphertext=backup).startswith(
        WEBM_MAGIC
    )
    key_id = recording.data_key_id
    agree_to_face_matching(recorded.users["student"])
    identity_enrol(user=recorded.users["student"], frames=[jpeg("obama.jpg")] * 3)  # a key that is not due

    with time_machine.travel(closed(recorded) + 181 * DAY):
        purge_due()

    assert not DataKey.objects.filter(pk=key_id).exists()
    assert DataKey.objects.filter(wrapped__isnull=False).exists()  # other keys live on; none of them opens it
    for data_key in DataKey.objects.filter(wrapped__isnull=False):
        with pytest.raises(crypto.DecryptionError):
            crypto.open_sealed(data_key_material(data_key), label=label, ciphertext=backup)


def test_a_standing_hold_keeps_the_recordings_and_profile_until_it_is_lifted(recorded: World) -> None:
    admin = recorded.users["admin"]
    agree_to_face_matching(recorded.users["student"])
    identity_enrol(user=recorded.users["student"], frames=[jpeg("obama.jpg")] * 3)
    IdentityProfile.objects.filter(user=recorded.users["student"]).update(last_used_at=closed(recorded))
    hold = hold_set(session_id=recorded.session.pk, reason="Misconduct case 2026-14", actor=admin)
    with time_machine.travel(closed(recorded) + 400 * DAY):
        report = purge_due()
        assert (report.recordings, report.profiles, report.held) == (0, 0, 2)
        assert Recording.objects.filter(session=recorded.session).exists()
        assert IdentityProfile.objects.filter(user=recorded.users["student"]).exists()
        hold_lift(hold_id=hold.pk, reason="Case closed", actor=admin)
        report = purge_due()
    assert (report.recordings, report.profiles, report.held) == (1, 1, 0)
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="hold.")] == ["hold.set", "hold.lift"]


def test_a_hold_needs_a_reason_and_only_one_stands_at_a_time(recorded: World) -> None:
    admin = recorded.users["admin"]
    with pytest.raises(HoldError, match="reason"):
        hold_set(session_id=recorded.session.pk, reason=" ", actor=admin)
    hold = hold_set(session_id=recorded.session.pk, reason="Case 1", actor=admin)
    with pytest.raises(HoldError, match="already on hold"):
        hold_set(session_id=recorded.session.pk, reason="Case 2", actor=admin)
    with pytest.raises(HoldError, match="reason"):
        hold_lift(hold_id=hold.pk, reason="", actor=admin)
    assert LegalHold.objects.get().lifted_at is None


def test_profiles_stay_the_day_before_and_go_the_day_after_365_days_from_last_use(world: World) -> None:
    student = world.users["student"]
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    profile = IdentityProfile.objects.get(user=student)
    last_use = profile.enrolled_at
    assert last_use is not None
    with time_machine.travel(last_use + 364 * DAY):
        assert purge_due().profiles == 0
    with time_machine.travel(last_use + 366 * DAY):
        assert purge_due().profiles == 1
    assert not IdentityProfile.objects.filter(user=student).exists()
    assert not DataKey.objects.filter(pk=profile.data_key_id).exists()
    assert AuditEvent.objects.filter(action="retention.purge_profile", target_id=str(student.pk)).exists()


def test_a_run_killed_after_shredding_is_finished_by_the_next(recorded: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(names: list[str]) -> int:
        raise SystemExit("worker killed")

    monkeypatch.setattr(services, "_delete_objects", killed)
    with time_machine.travel(closed(recorded) + 181 * DAY), pytest.raises(SystemExit):
        purge_due()
    recording = Recording.objects.select_related("data_key").get(session=recorded.session)
    assert recording.data_key.destroyed_at is not None  # the key went first
    monkeypatch.undo()
    with time_machine.travel(closed(recorded) + 182 * DAY):
        assert purge_due().recordings == 1
        assert purge_due().recordings == 0  # idempotent: nothing left, nothing done
    assert not Recording.objects.exists()
    assert AuditEvent.objects.filter(action="retention.purge_recordings").count() == 1


def test_dry_run_lists_what_would_go_and_when_and_changes_nothing(recorded: World) -> None:
    hold_set(session_id=recorded.session.pk, reason="Case 7", actor=recorded.users["admin"])
    out = io.StringIO()
    with time_machine.travel(closed(recorded) + 200 * DAY):
        call_command("purge", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"Recordings of student in {recorded.exam.title}" in text
    assert "KEPT by a legal hold" in text
    assert "nothing was changed" in text
    assert Recording.objects.filter(session=recorded.session).exists()

    LegalHold.objects.update(lifted_at=closed(recorded))
    upcoming = io.StringIO()
    call_command("purge", "--dry-run", "--within", "200", stdout=upcoming)
    assert "would be purged" in upcoming.getvalue()
    nothing = io.StringIO()
    call_command("purge", "--dry-run", stdout=nothing)
    assert nothing.getvalue().strip() == "Nothing is due for purging."


def test_the_daily_task_purges_and_is_on_the_beat_schedule(recorded: World) -> None:
    from privacy.tasks import purge_due_task

    assert settings.CELERY_BEAT_SCHEDULE["purge-expired-data"]["task"] == purge_due_task.name
    with time_machine.travel(closed(recorded) + 181 * DAY):
        assert purge_due_task.apply().get() == {"recordings": 1, "profiles": 0, "held": 0}


@pytest.mark.parametrize("status", [S.STARTED, S.ANALYSING, S.SECOND_REVIEW, S.APPEALED])
def test_a_session_in_the_middle_of_an_attempt_analysis_or_review_keeps_its_recordings(
    recorded: World, status: str
) -> None:
    ExamSession.objects.filter(pk=recorded.session.pk).update(status=status)
    out = io.StringIO()
    with time_machine.travel(closed(recorded) + 200 * DAY):
        call_command("purge", "--dry-run", stdout=out)
        assert purge_due().held == 1
    assert "KEPT by a review in progress" in out.getvalue()
    assert Recording.objects.filter(session=recorded.session).exists()
    ExamSession.objects.filter(pk=recorded.session.pk).update(status=S.CONCERN_CONFIRMED)
    with time_machine.travel(closed(recorded) + 200 * DAY):
        assert purge_due().recordings == 1


def test_a_hold_set_after_the_plan_was_made_still_keeps_the_recordings(recorded: World) -> None:
    with time_machine.travel(closed(recorded) + 181 * DAY):
        (item,) = purge_plan()
        assert not item.kept_by
        hold_set(session_id=recorded.session.pk, reason="Case 9", actor=recorded.users["admin"])
        assert services._purge_recordings(item.target.pk, item.due_at, timezone.now()) is False
    recording = Recording.objects.select_related("data_key").get(session=recorded.session)
    assert recording.data_key.destroyed_at is None


def test_one_item_that_fails_does_not_keep_the_others(recorded: World, monkeypatch: pytest.MonkeyPatch) -> None:
    other = recorded.other_session  # only a browser signal, from the same exam
    BrowserSignal.objects.create(session=other, kind="tab_hidden", client_time=closed(recorded) - DAY)
    delete_objects = services._delete_objects

    def storage_down(names: list[str]) -> int:
        if any(names):
            raise OSError("storage unreachable")
        return delete_objects(names)

    monkeypatch.setattr(services, "_delete_objects", storage_down)
    with time_machine.travel(closed(recorded) + 181 * DAY), pytest.raises(services.PurgeIncomplete, match="1 item"):
        purge_due()
    assert not BrowserSignal.objects.filter(session=other).exists()  # the other session went all the same
    assert Recording.objects.filter(session=recorded.session).exists()
    monkeypatch.undo()
    with time_machine.travel(closed(recorded) + 182 * DAY):
        assert purge_due().recordings == 1


def test_a_purge_run_from_the_command_that_fails_says_so(recorded: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def storage_down(names: list[str]) -> int:
        raise OSError("storage unreachable")

    monkeypatch.setattr(services, "_delete_objects", storage_down)
    with time_machine.travel(closed(recorded) + 181 * DAY), pytest.raises(CommandError, match="could not be purged"):
        call_command("purge", stdout=io.StringIO())


@pytest.mark.parametrize("arguments", [["--within", "30"], ["--dry-run", "--within", "-5"]])
def test_the_command_refuses_options_that_make_no_sense(world: World, arguments: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("purge", *arguments, stdout=io.StringIO())


def test_a_profile_is_kept_a_full_period_from_its_latest_use_an_id_photo_included(world: World) -> None:
    student = world.users["student"]
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    enrolled_at = IdentityProfile.objects.get(user=student).enrolled_at
    assert enrolled_at is not None
    with time_machine.travel(enrolled_at + 300 * DAY):
        identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    with time_machine.travel(enrolled_at + 366 * DAY):
        assert purge_due().profiles == 0
    with time_machine.travel(enrolled_at + 666 * DAY):
        assert purge_due().profiles == 1


def test_the_face_checks_go_with_the_profile_and_the_log_keeps_no_hold_reason(world: World) -> None:
    student = world.users["student"]
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    identity_verify(user=student, frame=jpeg("obama2.jpg"), reference="check")
    assert IdentityCheck.objects.filter(user=student).exists()
    with time_machine.travel(IdentityProfile.objects.get(user=student).last_used_at + 366 * DAY):
        assert purge_due().profiles == 1
    assert not IdentityCheck.objects.filter(user=student).exists()
    event = AuditEvent.objects.get(action="retention.purge_profile")
    assert event.detail["face_checks"] == 1

    hold_set(session_id=world.session.pk, reason="Ombudsman case 31", actor=world.users["admin"])
    assert "Ombudsman" not in str(AuditEvent.objects.values_list("detail", flat=True))
