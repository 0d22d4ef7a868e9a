"""Recordings and photos kept on an S3 server (moto's, checking signatures), through the services, the
selectors, the playback task and the playback page: stored sealed, read back, and played back with
ranged GETs that never fetch the whole object."""

from __future__ import annotations

import functools

import pytest
from django.urls import reverse

from exams.models import SessionStatus as S
from exams.services import session_transition
from identity.models import IdentityProfile
from identity.services import id_photo_open, identity_store_id_photo
from recordings.models import Recording
from recordings.selectors import recording_plaintext
from recordings.services import recording_append_chunk, recording_finalise, recording_start
from recordings.tasks import recording_playback_copy
from tests.analysis.conftest import jpeg
from tests.conftest import World, client_as, state_purpose
from tests.media import make_webm, split
from tests.s3 import S3Media, object_reads

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"
JPEG_MAGIC = b"\xff\xd8\xff"


@functools.cache
def webcam_webm() -> bytes:
    """Twelve seconds of webcam (about 280 KB): five sealed segments of playback copy."""
    return make_webm(seconds=12.0)


def recorded(world: World) -> Recording:
    session = world.session
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    for seq, chunk in enumerate(split(webcam_webm(), [40_000])):
        assert recording_append_chunk(recording=recording, seq=seq, data=chunk).outcome == "stored"
    return recording


def test_chunks_are_stored_sealed_in_the_bucket_and_read_back_in_order(s3_media: S3Media, world: World) -> None:
    recording = recorded(world)
    chunks = split(webcam_webm(), [40_000])
    assert recording_append_chunk(recording=recording, seq=1, data=chunks[1]).outcome == "duplicate"

    stored = dict(s3_media.media_objects())
    assert sorted(stored) == sorted(recording.chunks.values_list("storage_name", flat=True))
    assert len(stored) == len(chunks) > 5
    assert not any(data.startswith(WEBM_MAGIC) or chunks[1][:64] in data for data in stored.values())
    assert b"".join(recording_plaintext(recording)) == webcam_webm()


def test_the_playback_copy_is_made_in_the_bucket_and_a_range_is_played_with_ranged_gets(
    s3_media: S3Media, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = recorded(world)
    session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    recording_finalise(recording_id=recording.pk, actor=None)
    assert recording_playback_copy.apply(args=[str(recording.pk)]).get()["outcome"] == "ready"
    recording.refresh_from_db()
    copy = next(data for name, data in s3_media.media_objects() if name == recording.playback_name)
    assert not copy.startswith(WEBM_MAGIC)
    # A smaller read buffer than the default 256 KiB, so that this short copy spans many of them.
    monkeypatch.setattr("proctor.storage.READ_AHEAD_BYTES", 16 * 1024)
    reviewer = client_as(world, "reviewer")
    state_purpose(reviewer, world.session)
    page = reverse("recording_playback", args=[recording.pk])
    whole = b"".join(reviewer.get(page).streaming_content)
    assert whole.startswith(WEBM_MAGIC)
    assert len(whole) == recording.playback_size

    from django.core.files.storage import default_storage

    reads = object_reads(default_storage)
    played = reviewer.get(page, HTTP_RANGE="bytes=200000-200999")

    assert played.status_code == 206
    assert b"".join(played.streaming_content) == whole[200000:201000]
    key = f"{s3_media.prefix}/{recording.playback_name}"
    assert reads
    assert all(wanted for _, wanted in reads), reads  # every GET asks for a range
    assert all(name == key for name, _ in reads)
    fetched = [tuple(int(end) for end in wanted.removeprefix("bytes=").split("-")) for _, wanted in reads]
    # The sealed header, then the segment that holds the range: a fraction of the object, every GET bounded.
    assert fetched[0] == (0, 16 * 1024 - 1)
    assert sum(last - first + 1 for first, last in fetched) < len(copy) // 2


def test_a_photo_id_is_stored_sealed_in_the_bucket_and_read_back(s3_media: S3Media, world: World) -> None:
    student = world.users["student"]
    photo = jpeg("obama2.jpg")
    identity_store_id_photo(user=student, photo=photo)

    profile = IdentityProfile.objects.select_related("data_key").get(user=student)
    ((name, sealed),) = s3_media.media_objects()
    assert name == profile.id_photo_name
    assert not sealed.startswith(JPEG_MAGIC)
    assert photo[1000:1064] not in sealed
    assert id_photo_open(profile) == photo
