"""The playback endpoint: decrypts the seekable copy as it streams, honours HTTP Range so seeking is
instant, offers nothing for download, lets only the session's reviewers in, and audits every request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exams.models import SessionStatus as S
from exams.services import session_transition
from proctor.models import AuditEvent
from recordings.models import Recording
from recordings.services import (
    recording_append_chunk,
    recording_finalise,
    recording_make_playback_copy,
    recording_start,
)
from tests.conftest import PURPOSEFUL, ROLES, World, state_purpose
from tests.conftest import client_as as signed_in
from tests.media import make_webm, split

ALLOWED = {"instructor", "reviewer", "admin"}


@pytest.fixture
def recording(world: World) -> Recording:
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    recording = recording_start(session=world.session, kind="webcam", mime_type="video/webm", actor=None)
    for seq, chunk in enumerate(split(make_webm(seconds=3.0), [20_000])):
        recording_append_chunk(recording=recording, seq=seq, data=chunk)
    session_transition(session_id=world.session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    recording_finalise(recording_id=recording.pk, actor=None)
    return recording_make_playback_copy(recording_id=recording.pk)


def url(recording: Recording) -> str:
    return reverse("recording_playback", args=[recording.pk])


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_sessions_reviewers_and_admins_may_play_a_recording(
    world: World, recording: Recording, role: str
) -> None:
    response = client_as(world, role).get(url(recording), HTTP_RANGE="bytes=0-99")
    if role in ALLOWED:
        assert response.status_code == 206
        assert len(body(response)) == 100
    elif role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    plays = AuditEvent.objects.filter(action="recording.play")
    assert plays.count() == (1 if role in ALLOWED else 0)


def test_ranges_return_exactly_the_bytes_asked_for(world: World, recording: Recording) -> None:
    client = client_as(world, "instructor")
    whole = client.get(url(recording))
    assert whole.status_code == 200
    data = body(whole)
    assert len(data) == recording.playback_size == int(whole["Content-Length"])
    assert data.startswith(b"\x1a\x45\xdf\xa3")  # a WebM file, decrypted

    for header, expected in [
        ("bytes=0-0", data[:1]),
        ("bytes=1000-70000", data[1000:70001]),  # across a 64 KiB sealed segment
        ("bytes=-500", data[-500:]),
        (f"bytes={len(data) - 10}-", data[-10:]),
        (f"bytes=5-{len(data) + 999}", data[5:]),  # clamped to the end
    ]:
        response = client.get(url(recording), HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert body(response) == expected, header
        start = len(data) - len(expected) if header.startswith("bytes=-") else int(header[6:].split("-")[0])
        assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"


def test_an_open_range_is_answered_a_window_at_a_time(
    world: World, recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    from review import views

    monkeypatch.setattr(views, "PLAYBACK_WINDOW", 20_000)
    client = client_as(world, "instructor")
    data = body(client.get(url(recording)))
    size = len(data)
    assert size > 40_000
    first = client.get(url(recording), HTTP_RANGE="bytes=0-")
    assert first["Content-Range"] == f"bytes 0-19999/{size}"
    assert body(first) == data[:20_000]
    second = client.get(url(recording), HTTP_RANGE="bytes=20000-")
    assert second["Content-Range"] == f"bytes 20000-39999/{size}"
    assert body(second) == data[20_000:40_000]


def test_a_range_beyond_the_end_or_a_malformed_one_is_refused_never_answered_with_the_whole_file(
    world: World, recording: Recording
) -> None:
    client = client_as(world, "reviewer")
    size = recording.playback_size
    malformed = ("bytes=9-3", "lines=1-2", "bytes=a-b", "bytes=-", "bytes=", "bytes=0-1" + " " * 300)
    for header in (f"bytes={size}-", *malformed):
        refused = client.get(url(recording), HTTP_RANGE=header)
        assert refused.status_code == 416, header
        assert refused["Content-Range"] == f"bytes */{size}", header
    assert not AuditEvent.objects.filter(action="recording.play").exists()


def test_of_several_ranges_only_the_first_is_answered_and_at_most_a_window(
    world: World, recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    from review import views

    monkeypatch.setattr(views, "PLAYBACK_WINDOW", 20_000)
    client = client_as(world, "reviewer")
    data = body(client.get(url(recording)))
    one = client.get(url(recording), HTTP_RANGE="bytes=5-9, 100-199")
    assert one.status_code == 206
    assert one["Content-Range"] == f"bytes 5-9/{len(data)}"
    assert body(one) == data[5:10]
    many = client.get(url(recording), HTTP_RANGE="bytes=0-, 0-, 0-")
    assert many.status_code == 206
    assert body(many) == data[:20_000]


def test_nothing_is_offered_for_download_or_kept_in_a_cache(world: World, recording: Recording) -> None:
    response = client_as(world, "instructor").get(url(recording), HTTP_RANGE="bytes=0-9")
    assert response["Content-Type"] == "video/webm"
    assert response["Content-Disposition"] == "inline"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Accept-Ranges"] == "bytes"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_every_request_is_audited_with_who_what_and_from_where(world: World, recording: Recording) -> None:
    body(client_as(world, "reviewer").get(url(recording), HTTP_RANGE="bytes=100-199"))
    event = AuditEvent.objects.get(action="recording.play")
    assert event.actor_id == world.users["reviewer"].pk
    assert (event.target_type, event.target_id) == ("recordings.recording", str(recording.pk))
    assert event.ip == "192.0.2.7"
    assert event.detail == {"session": str(world.session.pk), "kind": "webcam", "range": [100, 200]}


def test_a_recording_without_its_playback_copy_yet_is_not_found(world: World) -> None:
    recording = recording_start(session=world.session, kind="screen", mime_type="video/webm", actor=None)
    response = client_as(world, "instructor").get(url(recording))
    assert response.status_code == 404


def test_an_unknown_recording_is_not_found(world: World) -> None:
    response = client_as(world, "admin").get("/review/recordings/00000000-0000-0000-0000-000000000000/playback/")
    assert response.status_code == 404


def test_only_get_is_allowed(world: World, recording: Recording) -> None:
    assert client_as(world, "instructor").post(url(recording)).status_code == 405


def client_as(world: World, role: str) -> Client:
    """Signed in; the session's staff have also said why they need it (review.access)."""
    client = signed_in(world, role, address="192.0.2.7")
    if role in PURPOSEFUL:
        state_purpose(client, world.session)
    return client
