"""The retention purge on a versioned S3 bucket leaves nothing behind: no object, no older version of
one, no delete marker, for recordings and identity profiles alike."""

from __future__ import annotations

import time_machine
from django.core.files.storage import default_storage

from identity.models import IdentityProfile
from identity.services import identity_store_id_photo
from privacy.services import purge_due
from recordings.models import Recording
from tests.analysis.conftest import jpeg
from tests.conftest import World
from tests.privacy.conftest import DAY, closed
from tests.s3 import MEDIA_BUCKET, S3Media


def test_the_purge_removes_every_version_of_every_object_of_the_recordings_and_the_profile(
    s3_media: S3Media, recorded: World
) -> None:
    student = recorded.users["student"]
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    recording = Recording.objects.get(session=recorded.session)
    names = [*recording.chunks.values_list("storage_name", flat=True), recording.playback_name]
    photo = IdentityProfile.objects.get(user=student).id_photo_name
    # An older version of the playback copy, as a versioned bucket keeps after an overwrite (a restore
    # from backup, an operator's copy): it must go too.
    s3_media.server.admin.put_object(
        Bucket=MEDIA_BUCKET, Key=f"{s3_media.prefix}/{recording.playback_name}", Body=b"an older version"
    )
    stored = {entry["Key"].removeprefix(s3_media.prefix + "/") for entry in s3_media.media_versions()}
    assert stored == {*names, photo}
    assert len(s3_media.media_versions()) == len(names) + 2

    with time_machine.travel(closed(recorded) + 400 * DAY):
        report = purge_due()

    assert (report.recordings, report.profiles, report.failed) == (1, 1, 0)
    assert s3_media.media_versions() == []  # no version and no delete marker
    assert not any(default_storage.exists(name) for name in [*names, photo])
