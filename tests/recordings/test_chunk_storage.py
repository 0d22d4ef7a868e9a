"""Chunks are stored encrypted and durable, idempotently, and decrypt back to a stream PyAV decodes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from exams.models import SessionStatus
from exams.services import session_transition
from proctor import crypto
from recordings.models import RecordingChunk, RecordingGap, RecordingStatus
from recordings.selectors import recording_plaintext
from recordings.services import (
    MAX_CHUNK_BYTES,
    ChunkRefused,
    chunk_seal,
    recording_append_chunk,
    recording_finalise,
    recording_start,
)
from tests.conftest import World
from tests.media import decoded_video_seconds, make_webm, split

S = SessionStatus


@pytest.fixture
def webm() -> bytes:
    return make_webm(seconds=4.0)


@pytest.fixture
def recording(world: World) -> object:
    session = world.session
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session = session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    return recording_start(
        session=session, kind="webcam", mime_type="video/webm;codecs=vp8,opus", actor=world.users["student"]
    )


def append_all(recording: object, chunks: list[bytes]) -> None:
    for seq, chunk in enumerate(chunks):
        assert recording_append_chunk(recording=recording, seq=seq, data=chunk).outcome == "stored"


def test_the_chunks_decrypt_in_order_to_a_webm_that_decodes_for_the_time_recorded(
    recording: object, webm: bytes
) -> None:
    append_all(recording, split(webm, [1000, 777, 4096]))
    plaintext = b"".join(recording_plaintext(recording))
    assert plaintext == webm
    frames, seconds = decoded_video_seconds(plaintext)
    assert frames == 60
    assert seconds == pytest.approx(4.0, rel=0.1)


def test_no_stored_byte_is_plaintext_media(recording: object, webm: bytes) -> None:
    chunks = split(webm, [1500])
    append_all(recording, chunks)
    stored = [Path(settings.MEDIA_ROOT, c.storage_name).read_bytes() for c in RecordingChunk.objects.all()]
    assert len(stored) == len(chunks)
    for sealed, chunk in zip(stored, chunks, strict=True):
        assert b"\x1a\x45\xdf\xa3" not in sealed
        assert chunk[:64] not in sealed
        assert sealed.startswith(b"IVG1")


def test_a_sealed_chunk_moved_to_another_position_does_not_decrypt(recording: object, webm: bytes) -> None:
    append_all(recording, split(webm, [2000])[:3])
    first, second = RecordingChunk.objects.order_by("seq")[:2]
    Path(settings.MEDIA_ROOT, second.storage_name).write_bytes(
        Path(settings.MEDIA_ROOT, first.storage_name).read_bytes()
    )
    with pytest.raises(crypto.DecryptionError):
        b"".join(recording_plaintext(recording))


def test_a_resent_chunk_is_acknowledged_again_and_stored_once(recording: object, webm: bytes) -> None:
    chunk = split(webm, [3000])[0]
    assert recording_append_chunk(recording=recording, seq=0, data=chunk).outcome == "stored"
    assert recording_append_chunk(recording=recording, seq=0, data=chunk).outcome == "duplicate"
    assert RecordingChunk.objects.count() == 1
    assert len(default_storage.listdir(str(Path(RecordingChunk.objects.get().storage_name).parent))[1]) == 1


def test_different_bytes_under_a_stored_number_are_refused_and_the_original_kept(
    recording: object, webm: bytes
) -> None:
    first, second = split(webm, [3000])[:2]
    recording_append_chunk(recording=recording, seq=0, data=first)
    recording_append_chunk(recording=recording, seq=1, data=second)
    with pytest.raises(ChunkRefused) as refused:
        recording_append_chunk(recording=recording, seq=1, data=second[::-1])
    assert refused.value.code == "conflict"
    assert b"".join(recording_plaintext(recording)) == first + second


@pytest.mark.parametrize(
    ("seq", "data", "code"),
    [
        (0, b"not a webm file at all", "not_webm"),
        (1, b"", "empty"),
        (-1, b"x", "bad_seq"),
        (1, b"x" * (MAX_CHUNK_BYTES + 1), "too_large"),
    ],
)
def test_bad_chunks_get_a_clear_refusal_and_store_nothing(recording: object, seq: int, data: bytes, code: str) -> None:
    with pytest.raises(ChunkRefused) as refused:
        recording_append_chunk(recording=recording, seq=seq, data=data)
    assert refused.value.code == code
    assert str(refused.value)
    assert RecordingChunk.objects.count() == 0


def test_chunks_still_upload_after_submit_until_the_recording_is_finalised(
    world: World, recording: object, webm: bytes
) -> None:
    recording_append_chunk(recording=recording, seq=0, data=webm[:1000])
    session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="submitted")
    assert recording_append_chunk(recording=recording, seq=1, data=webm[1000:2000]).outcome == "stored"
    recording_finalise(recording_id=recording.pk, actor=None)
    with pytest.raises(ChunkRefused) as refused:
        recording_append_chunk(recording=recording, seq=2, data=webm[2000:3000])
    assert refused.value.code == "closed"
    assert RecordingChunk.objects.count() == 2


def test_nothing_is_recorded_before_the_exam_starts(world: World, webm: bytes) -> None:
    recording = recording_start(session=world.session, kind="webcam", mime_type="video/webm", actor=None)
    with pytest.raises(ChunkRefused) as refused:
        recording_append_chunk(recording=recording, seq=0, data=webm[:1000])
    assert refused.value.code == "closed"


def test_finalising_records_missing_chunks_as_technical_gaps(recording: object, webm: bytes) -> None:
    chunks = split(webm, [500])
    for seq in (0, 1, 2, 5, 6, 9):
        recording_append_chunk(recording=recording, seq=seq, data=chunks[seq])
    recording_finalise(recording_id=recording.pk, actor=None)
    recording_finalise(recording_id=recording.pk, actor=None)  # idempotent
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.FINALISED
    assert list(RecordingGap.objects.values_list("first_missing_seq", "last_missing_seq")) == [(3, 4), (7, 8)]
    with pytest.raises(ChunkRefused):
        recording_append_chunk(recording=recording, seq=10, data=chunks[10])


def test_each_recording_has_its_own_data_key(world: World, recording: object) -> None:
    screen = recording_start(session=world.session, kind="screen", mime_type="video/webm", actor=None)
    assert screen.data_key_id != recording.data_key_id
    assert recording_start(session=world.session, kind="screen", mime_type="video/webm", actor=None) == screen


def test_an_unknown_stream_is_refused(world: World) -> None:
    with pytest.raises(ChunkRefused, match="not a stream"):
        recording_start(session=world.session, kind="keystrokes", mime_type="x", actor=None)


def test_the_stored_digest_is_of_the_plaintext(recording: object, webm: bytes) -> None:
    recording_append_chunk(recording=recording, seq=0, data=webm[:900])
    assert RecordingChunk.objects.get().sha256 == hashlib.sha256(webm[:900]).hexdigest()


def test_a_finalised_recording_gets_a_sealed_seekable_playback_copy(recording: object, webm: bytes) -> None:
    import io

    import av

    from recordings.services import playback_label, recording_make_playback_copy

    append_all(recording, split(webm, [900, 1300]))
    recording_finalise(recording_id=recording.pk, actor=None)
    copy = recording_make_playback_copy(recording_id=recording.pk)
    assert recording_make_playback_copy(recording_id=recording.pk).playback_name == copy.playback_name  # idempotent
    sealed = Path(settings.MEDIA_ROOT, copy.playback_name).read_bytes()
    assert b"\x1a\x45\xdf\xa3" not in sealed
    from proctor.keys import data_key_material

    plain = crypto.open_sealed(data_key_material(copy.data_key), label=playback_label(copy.pk), ciphertext=sealed)
    assert len(plain) == copy.playback_size
    with av.open(io.BytesIO(plain)) as container:
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(4.0, rel=0.1)
    assert copy.duration_seconds == pytest.approx(4.0, rel=0.1)


def test_a_playback_copy_that_fails_half_way_leaves_no_partial_file(
    recording: object, webm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordings import selectors
    from recordings.services import recording_make_playback_copy

    append_all(recording, split(webm, [20_000]))
    recording_finalise(recording_id=recording.pk, actor=None)
    real = selectors.recording_plaintext
    reads = []

    def unreadable_the_second_time(recording: object) -> Iterator[bytes]:
        reads.append(recording)
        for index, piece in enumerate(real(recording)):
            if len(reads) == 2 and index == 3:  # the copy is being stored by now
                raise OSError("the storage went away")
            yield piece

    monkeypatch.setattr(selectors, "recording_plaintext", unreadable_the_second_time)
    with pytest.raises(OSError, match="went away"):
        recording_make_playback_copy(recording_id=recording.pk)

    recording.refresh_from_db()
    assert recording.playback_name == ""
    folder = Path(settings.MEDIA_ROOT, "recordings", str(recording.session_id), str(recording.pk))
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        Path(name).name for name in recording.chunks.values_list("storage_name", flat=True)
    )


def test_a_corrupt_recording_gets_a_clear_failure_not_a_retry_loop(recording: object) -> None:
    from recordings.tasks import recording_playback_copy

    recording_append_chunk(recording=recording, seq=0, data=b"\x1a\x45\xdf\xa3" + b"\x00garbage" * 100)
    recording_finalise(recording_id=recording.pk, actor=None)
    result = recording_playback_copy.run(str(recording.pk))
    assert result["outcome"] == "failed"
    assert result["reason"]
    recording.refresh_from_db()
    assert recording.playback_name == ""


def test_a_playback_copy_waits_for_finalisation(recording: object, webm: bytes) -> None:
    from recordings.services import recording_make_playback_copy

    append_all(recording, split(webm, [900]))
    with pytest.raises(ChunkRefused, match="finalised"):
        recording_make_playback_copy(recording_id=recording.pk)


def test_browser_signals_are_refused_once_the_attempt_is_over(world: World, recording: object) -> None:
    from django.utils import timezone

    from recordings.services import browser_signal_record

    browser_signal_record(session=world.session, kind="copy", client_time=timezone.now(), detail={})
    session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="submitted")
    with pytest.raises(ChunkRefused) as refused:
        browser_signal_record(session=world.session, kind="tab_hidden", client_time=timezone.now(), detail={})
    assert refused.value.code == "closed"


def test_two_writes_of_one_chunk_never_share_an_object_name(recording: object) -> None:
    from recordings.services import chunk_storage_name

    assert chunk_storage_name(recording, 3) != chunk_storage_name(recording, 3)


def test_a_chunks_client_time_is_believed_exactly_when_a_signals_would_be(
    world: World, recording: object, webm: bytes
) -> None:
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from recordings.models import BrowserSignal
    from recordings.services import browser_signal_record

    now = timezone.now()
    times = [
        now - timedelta(minutes=1),
        now + timedelta(days=3),
        now - timedelta(days=3),
        datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
    ]
    for seq, (chunk, client_time) in enumerate(zip(split(webm, [900])[: len(times)], times, strict=True)):
        recording_append_chunk(recording=recording, seq=seq, data=chunk, client_time=client_time)
        browser_signal_record(session=world.session, kind="copy", client_time=client_time, detail={"seq": seq})
    stored = dict(RecordingChunk.objects.filter(recording=recording).values_list("seq", "client_time"))
    assert stored == {0: times[0], 1: None, 2: None, 3: None, 4: None}
    for signal in BrowserSignal.objects.all():
        seq = signal.detail["seq"]
        believed = stored[seq] is not None
        assert signal.detail.get("client_clock_ignored", False) is not believed, seq
        assert (signal.client_time == times[seq]) is believed, seq


def test_appending_a_chunk_takes_one_round_trip_per_step(
    recording: object, webm: bytes, django_assert_num_queries: object
) -> None:
    # Under load every round trip waits, so the hot path is counted: the atomic block's savepoint (a
    # transaction outside tests), the locked recording with its session's status, its stored bytes and any
    # chunk already stored under the number, the insert, the byte counter, and the release (the commit
    # outside tests). A batch costs the same (test_group_commit).
    with django_assert_num_queries(5):  # type: ignore[operator]
        assert recording_append_chunk(recording=recording, seq=0, data=webm[:1000]).outcome == "stored"


def test_a_restarted_stream_comes_with_its_data_key_so_sealing_needs_no_database(
    world: World, recording: object, webm: bytes, django_assert_num_queries: object
) -> None:
    # Chunks are sealed on threads that never query: after a database crash, such a thread's connection
    # would stay broken and every chunk sealed there would fail.
    again = recording_start(
        session=recording.session,  # type: ignore[attr-defined]
        kind="webcam",
        mime_type="video/webm",
        actor=world.users["student"],
    )
    assert again.pk == recording.pk  # type: ignore[attr-defined]
    with django_assert_num_queries(0):  # type: ignore[operator]
        chunk_seal(recording=again, seq=0, data=webm[:1000], durable=False)
