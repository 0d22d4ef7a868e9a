"""The session review page and flag thumbnails: who may see them, what they show, and the audit."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from analysis.models import Flag
from analysis.services import analysis_run
from exams.models import ExamBreak
from proctor.models import AuditEvent
from recordings.models import Recording
from recordings.services import recording_make_playback_copy
from tests import scenarios
from tests.analysis.conftest import enrol, record_attempt
from tests.conftest import PURPOSEFUL, ROLES, World, state_purpose
from tests.conftest import client_as as signed_in

ALLOWED = {"instructor", "reviewer", "admin"}


@pytest.fixture
def analysed(world: World) -> World:
    world.exam.record_screen = False
    world.exam.save()
    enrol(world.users["student"])
    item = scenarios.scenario("second_face")
    attempt = record_attempt(world, webm=scenarios.recording(item), seconds=item.seconds)
    for recording in Recording.objects.filter(session=attempt.session):
        recording_make_playback_copy(recording_id=recording.pk)
    analysis_run(session_id=attempt.session.pk)
    return world


@pytest.mark.parametrize("role", ROLES)
def test_only_the_sessions_reviewers_and_admins_see_the_review_page_and_its_pictures(
    analysed: World, role: str
) -> None:
    flag = Flag.objects.filter(session=analysed.session).first()
    assert flag is not None
    client = client_as(analysed, role)
    page = client.get(reverse("review_session", args=[analysed.session.pk]))
    picture = client.get(reverse("flag_thumbnail", args=[flag.pk]))
    if role in ALLOWED:
        assert (page.status_code, picture.status_code) == (200, 200)
    elif role == "anonymous":
        assert (page.status_code, picture.status_code) == (302, 302)
    else:
        assert (page.status_code, picture.status_code) == (403, 403)
    audited = AuditEvent.objects.filter(action__in=["review.session_view", "flag.thumbnail_view"]).count()
    assert audited == (2 if role in ALLOWED else 0)


def test_the_page_shows_every_flag_with_its_reason_confidence_and_detector(analysed: World) -> None:
    response = client_as(analysed, "reviewer").get(reverse("review_session", args=[analysed.session.pk]))
    html = response.content.decode()
    flags = list(Flag.objects.filter(session=analysed.session))
    assert len(flags) == 2
    for flag in flags:
        assert flag.reason in html
        assert f"Confidence {round(flag.confidence * 100)}%" in html
        assert f'data-seek="{flag.start_seconds:f}"' in html
        for cause in flag.false_alarm_causes:  # the known causes of false alarms, with every flag
            assert escape(cause) in html
    assert "Known causes of false alarms for this kind of flag" in html
    assert "face-presence 2.0" in html
    parts = response.context["review_parts"]
    assert parts["webcam"][0]["url"] == reverse("recording_playback", args=[analysed.session.recordings.get().pk])
    assert parts["screen"] == []


def test_a_flag_picture_is_a_decrypted_jpeg_never_cached_and_its_view_audited(analysed: World) -> None:
    flag = Flag.objects.filter(session=analysed.session).first()
    response = client_as(analysed, "instructor").get(reverse("flag_thumbnail", args=[flag.pk]))
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "no-store, private"
    assert Image.open(io.BytesIO(response.content)).size == (160, 120)
    event = AuditEvent.objects.get(action="flag.thumbnail_view")
    assert (event.actor_id, event.ip, event.detail["flag"]) == (
        analysed.users["instructor"].pk,
        "198.51.100.4",
        flag.pk,
    )


def test_a_flag_without_a_picture_is_not_found(analysed: World) -> None:
    flag = Flag.objects.filter(session=analysed.session).first()
    Flag.objects.filter(pk=flag.pk).update(evidence_thumbnail=None)
    assert client_as(analysed, "admin").get(reverse("flag_thumbnail", args=[flag.pk])).status_code == 404


def test_a_picture_or_recording_whose_key_was_destroyed_is_gone_not_an_error(analysed: World) -> None:
    from proctor.keys import data_key_destroy

    flag = Flag.objects.filter(session=analysed.session).first()
    recording = analysed.session.recordings.get()
    data_key_destroy(data_key=recording.data_key)
    client = client_as(analysed, "reviewer")

    picture = client.get(reverse("flag_thumbnail", args=[flag.pk]))
    playback = client.get(reverse("recording_playback", args=[recording.pk]), HTTP_RANGE="bytes=0-9")

    assert (picture.status_code, playback.status_code) == (404, 404)
    assert not AuditEvent.objects.filter(action="flag.thumbnail_view").exists()


def client_as(world: World, role: str) -> Client:
    """Signed in; the session's staff have also said why they need it (review.access)."""
    client = signed_in(world, role, address="198.51.100.4")
    if role in PURPOSEFUL:
        state_purpose(client, world.session)
    return client


def test_the_page_shows_each_break_and_any_overrun(analysed: World) -> None:
    session = analysed.session
    began = session.started_at
    assert began is not None
    for start, end, allowed in ((2, 5, 600), (6, 8, 1)):
        ExamBreak.objects.create(
            session=session,
            started_at=began + timedelta(seconds=start),
            ended_at=began + timedelta(seconds=end),
            allowed_seconds=allowed,
            deadline_before=began + timedelta(hours=1),
        )
    html = client_as(analysed, "reviewer").get(reverse("review_session", args=[session.pk])).content.decode()
    assert "Breaks (2)" in html
    assert "From 0:02 to 0:05 (3 s)." in html
    # The second ran a second past the break time left: that second was exam time, and analysed.
    assert "From 0:06 to 0:08 (2 s): ran 1 s over the break time left" in html
    assert 'data-seek="6.000000"' in html
    # Each break is also a hatched stretch of the timeline, under the flags' marks.
    assert html.count('class="timeline__break"') == 2
    assert "Flags and breaks (hatched) along the recording" in html
