"""Deletion that covers backups: a copy of the database and of the storage taken before a purge cannot
decrypt what was purged, even with every key that still exists, once the retention-period key of the month
it fell due is destroyed; what is not yet due still decrypts from the same copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import serializers
from django.core.files.storage import default_storage
from django.db import models

from exams.models import ExamSession
from exams.models import SessionStatus as S
from identity.models import IdentityProfile
from identity.services import identity_enrol, identity_store_id_photo
from privacy.services import hold_set, purge_due
from proctor import crypto
from proctor.keys import data_key_material, keyring, keystore
from proctor.keystore import PERIOD_GRACE, PeriodKeyDestroyed, period_end, period_id_for, period_key_label
from proctor.models import DataKey
from recordings.models import Recording, RecordingChunk
from recordings.services import chunk_label, playback_label, recording_append_chunk, recording_start
from tests.analysis.conftest import jpeg
from tests.conftest import World, agree_to_face_matching
from tests.factories import ExamSessionFactory
from tests.privacy.conftest import DAY, closed, webcam_webm

HOUR = DAY / 24


@pytest.fixture(autouse=True)
def own_keystore(settings: Any, tmp_path: Path) -> Path:
    """A key store of this test's own: the period keys left at the end are this test's only."""
    settings.INVIGIL_KEYSTORE_DIR = tmp_path / "keystore"
    settings.INVIGIL_KEYSTORE_DIR.mkdir()
    return settings.INVIGIL_KEYSTORE_DIR


@dataclass
class Backup:
    """What an operator's nightly backup holds: a dump of the database's tables (as pg_dump would write
    them) and a copy of every stored object."""

    rows: dict[tuple[str, str], Any]
    files: dict[str, bytes]

    def row(self, model: type[models.Model], pk: Any) -> Any:
        return self.rows[(model._meta.label, str(pk))]

    def recording_plaintext(self, recording_id: Any) -> tuple[bytes, bytes]:
        """The recording's chunks joined, and its playback copy, decrypted from the backup alone."""
        recording = self.row(Recording, recording_id)
        material = data_key_material(self.row(DataKey, recording.data_key_id))
        chunks = sorted(
            (row for (label, _), row in self.rows.items() if label == "recordings.RecordingChunk"),
            key=lambda chunk: chunk.seq,
        )
        joined = b"".join(
            crypto.open_sealed(material, label=chunk_label(recording_id, c.seq), ciphertext=self.files[c.storage_name])
            for c in chunks
            if c.recording_id == recording_id
        )
        playback = b""
        if recording.playback_name:
            ciphertext = self.files[recording.playback_name]
            playback = crypto.open_sealed(material, label=playback_label(recording_id), ciphertext=ciphertext)
        return joined, playback

    def profile_plaintext(self, profile_id: Any) -> tuple[bytes, bytes]:
        """The face template's bytes and the photo ID, decrypted from the backup alone."""
        profile = self.row(IdentityProfile, profile_id)
        material = data_key_material(self.row(DataKey, profile.data_key_id))
        template = crypto.open_sealed(
            material, label=f"identity:{profile_id}:template".encode(), ciphertext=bytes(profile.template_sealed)
        )
        photo = crypto.open_sealed(
            material, label=f"identity:{profile_id}:id-photo".encode(), ciphertext=self.files[profile.id_photo_name]
        )
        return template, photo


def take_backup() -> Backup:
    everything = [
        *DataKey.objects.all(),
        *Recording.objects.all(),
        *RecordingChunk.objects.all(),
        *IdentityProfile.objects.all(),
    ]
    dump = serializers.serialize("json", everything)
    rows = {(o.object._meta.label, str(o.object.pk)): o.object for o in serializers.deserialize("json", dump)}
    names = [
        *RecordingChunk.objects.values_list("storage_name", flat=True),
        *Recording.objects.exclude(playback_name="").values_list("playback_name", flat=True),
        *IdentityProfile.objects.exclude(id_photo_name="").values_list("id_photo_name", flat=True),
    ]
    files = {}
    for name in names:
        with default_storage.open(name, "rb") as stored:
            files[name] = stored.read()
    return Backup(rows=rows, files=files)


def every_remaining_key() -> list[bytes]:
    """The master keys from settings and every period key still in the key store, unwrapped."""
    masters = [kek for _, kek in django_settings.INVIGIL_KEYS]
    store = keystore()
    periods = [
        keyring().unwrap((store.directory / f"{p.replace(':', '-')}.key").read_bytes(), label=period_key_label(p))
        for p in store.periods()
    ]
    return masters + periods


def assert_no_remaining_key_unwraps(data_key: DataKey) -> None:
    wrapped = bytes(data_key.wrapped)
    named = crypto.kek_id_of(wrapped)
    for candidate in every_remaining_key():
        # Under the id the wrapped key names, so the ring tries the candidate instead of refusing the id.
        with pytest.raises(crypto.DecryptionError):
            crypto.KeyRing([(named, candidate)]).unwrap(wrapped, label=data_key.label)


def a_recording_due_much_later(world: World) -> Recording:
    """The other student's recording of an exam that closes in 300 days, so it is due in 480."""
    exam = world.other_exam
    exam.closes_at = exam.opens_at + 300 * DAY
    exam.save()
    session = ExamSessionFactory(exam=exam, student=world.users["other_student"])
    ExamSession.objects.filter(pk=session.pk).update(status=S.STARTED)
    session.refresh_from_db()
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    recording_append_chunk(recording=recording, seq=0, data=webcam_webm())
    return recording


def test_a_backup_from_before_the_purge_cannot_decrypt_what_was_purged_even_with_every_remaining_key(
    recorded: World,
) -> None:
    student = recorded.users["student"]
    recorded.course.institution.profile_retention_days = 30
    recorded.course.institution.save()
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    photo = jpeg("obama.jpg")
    identity_store_id_photo(user=student, photo=photo)
    purged_recording = Recording.objects.get(session=recorded.session)
    profile = IdentityProfile.objects.get(user=student)
    later = a_recording_due_much_later(recorded)

    backup = take_backup()
    # The backup is whole: before any purge it opens everything.
    chunks, playback = backup.recording_plaintext(purged_recording.pk)
    assert chunks == webcam_webm()
    assert playback.startswith(b"\x1a\x45\xdf\xa3")
    template, photo_back = backup.profile_plaintext(profile.pk)
    assert len(template) > 0
    assert photo_back == photo
    assert backup.recording_plaintext(later.pk)[0] == webcam_webm()

    purged_period = backup.row(DataKey, purged_recording.data_key_id).kek_id
    profile_period = backup.row(DataKey, profile.data_key_id).kek_id
    later_period = backup.row(DataKey, later.data_key_id).kek_id
    assert len({purged_period, profile_period, later_period}) == 3

    purged_at = closed(recorded) + 181 * DAY
    with time_machine.travel(purged_at):
        report = purge_due()
    assert (report.recordings, report.profiles) == (1, 1)
    assert not Recording.objects.filter(pk=purged_recording.pk).exists()
    assert not IdentityProfile.objects.filter(pk=profile.pk).exists()
    # Within the month the recording fell due its period key lives on, and the backup still opens it:
    # that is the window the notices describe.
    if period_end(purged_period) + PERIOD_GRACE > purged_at:
        assert backup.recording_plaintext(purged_recording.pk)[0] == webcam_webm()

    with time_machine.travel(max(purged_at, period_end(purged_period) + PERIOD_GRACE + HOUR)):
        purge_due()
    remaining = keystore().periods()
    assert purged_period not in remaining
    assert profile_period not in remaining
    assert later_period in remaining

    for purged_key in (purged_recording.data_key_id, profile.data_key_id):
        with pytest.raises(PeriodKeyDestroyed):
            data_key_material(backup.row(DataKey, purged_key))
        assert_no_remaining_key_unwraps(backup.row(DataKey, purged_key))
    with pytest.raises(PeriodKeyDestroyed):
        backup.recording_plaintext(purged_recording.pk)
    with pytest.raises(PeriodKeyDestroyed):
        backup.profile_plaintext(profile.pk)
    # What is not due yet still decrypts from the same backup, and from the live database.
    assert backup.recording_plaintext(later.pk)[0] == webcam_webm()
    assert len(data_key_material(DataKey.objects.get(pk=later.data_key_id))) == 32


def test_a_held_recording_keeps_its_key_in_a_later_period_when_its_month_ends(recorded: World) -> None:
    hold_set(session_id=recorded.session.pk, reason="Case 12", actor=recorded.users["admin"])
    recording = Recording.objects.get(session=recorded.session)
    backup = take_backup()
    first_period = backup.row(DataKey, recording.data_key_id).kek_id
    after = period_end(first_period) + PERIOD_GRACE + HOUR
    with time_machine.travel(after):
        report = purge_due()
        assert report.held == 1
        assert report.keys_moved == 1
        moved = DataKey.objects.get(pk=recording.data_key_id)
        assert moved.kek_id == period_id_for(after)
    assert first_period not in keystore().periods()
    live = Backup(rows={**backup.rows, (DataKey._meta.label, str(moved.pk)): moved}, files=backup.files)
    assert live.recording_plaintext(recording.pk)[0] == webcam_webm()
    # A backup from before the move cannot restore it: restore from one taken after.
    with pytest.raises(PeriodKeyDestroyed):
        backup.recording_plaintext(recording.pk)
