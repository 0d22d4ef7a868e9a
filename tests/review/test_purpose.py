"""Access for a purpose (issue 13, item 3): a session's recordings, evidence pictures and review page
open only after the reviewer says why, with a password typed in the last 15 minutes; the purpose
goes into every audit entry of what it opened, and bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from analysis.models import Flag
from proctor.models import AuditEvent
from recordings.models import Recording
from review.access import PURPOSES
from tests.conftest import World, client_as, state_purpose
from tests.factories import ExamSessionFactory
from tests.review.test_dashboard import analysed
from tests.review.test_playback import recording  # noqa: F401  (fixture)

PASSWORD = "correct-horse-battery"  # noqa: S105 (the test users' password, tests/factories.py)


def access_url(world: World, **query: str) -> str:
    path = reverse("review_session_access", args=[world.session.pk])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def review_url(world: World) -> str:
    return reverse("review_session", args=[world.session.pk])


@pytest.fixture
def flagged(world: World) -> World:
    analysed(world.session, score=3.0, flags={"speech": 2})
    return world


def purposes(client: Client) -> dict[str, Any]:
    return dict(client.session.get(PURPOSES, {}))


def test_the_review_page_sends_a_reviewer_to_say_why_first(flagged: World) -> None:
    client = client_as(flagged, "reviewer")
    response = client.get(review_url(flagged))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('review_session_access', args=[flagged.session.pk])}?next=" + (
        review_url(flagged).replace("/", "%2F")
    )
    page = client.get(response["Location"]).content.decode()
    assert "Why do you need to see this session?" in page
    for flag in Flag.objects.filter(session=flagged.session):
        assert f"#{flag.pk} " in page
    assert 'type="password"' not in page  # signed in moments ago
    assert not AuditEvent.objects.filter(action="review.session_view").exists()


@pytest.mark.parametrize(
    ("fields", "purpose"),
    [
        ({"kind": "case", "case": "AI-2026-0142"}, "case AI-2026-0142"),
        ({"kind": "appeal"}, "The student's appeal"),
        ({"kind": "flag"}, "flag #{flag} (Speech)"),
    ],
)
def test_a_stated_purpose_opens_the_page_and_goes_into_its_audit_entry(
    flagged: World, fields: dict[str, str], purpose: str
) -> None:
    flag = Flag.objects.filter(session=flagged.session).first()
    assert flag is not None
    if fields["kind"] == "flag":
        fields = {**fields, "flag": str(flag.pk)}
    client = client_as(flagged, "instructor")
    response = client.post(access_url(flagged), {**fields, "next": review_url(flagged)})
    assert response.status_code == 302
    assert response["Location"] == review_url(flagged)
    expected = purpose.format(flag=flag.pk)
    stated = AuditEvent.objects.get(action="access.purpose")
    assert (stated.purpose, stated.role, stated.target_id) == (expected, "instructor", str(flagged.session.pk))
    page = client.get(review_url(flagged))
    assert page.status_code == 200
    assert escape(expected) in page.content.decode()
    viewed = AuditEvent.objects.get(action="review.session_view")
    assert (viewed.purpose, viewed.role) == (expected, "instructor")


def test_playing_a_recording_carries_the_purpose_and_without_one_is_refused_and_logged(
    world: World,
    recording: Recording,  # noqa: F811
) -> None:
    client = client_as(world, "reviewer")
    play = reverse("recording_playback", args=[recording.pk])
    refused = client.get(play, HTTP_RANGE="bytes=0-99")
    assert refused.status_code == 403
    entry = AuditEvent.objects.filter(action="access.refused").get()
    assert (entry.outcome, entry.role) == ("refused", "reviewer")
    assert entry.detail["wanted"] == "play a recording without a stated purpose"
    assert not AuditEvent.objects.filter(action="recording.play").exists()

    state_purpose(client, world.session, kind="case", case="AI-2026-0142")
    assert client.get(play, HTTP_RANGE="bytes=0-99").status_code == 206
    played = AuditEvent.objects.get(action="recording.play")
    assert (played.purpose, played.role) == ("case AI-2026-0142", "reviewer")


def test_an_evidence_picture_without_a_purpose_is_refused(flagged: World) -> None:
    flag = Flag.objects.filter(session=flagged.session).first()
    assert flag is not None
    client = client_as(flagged, "admin")
    assert client.get(reverse("flag_thumbnail", args=[flag.pk])).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused", outcome="refused").count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Choose why you need to see this session."),
        ({"kind": "curiosity"}, "Choose why you need to see this session."),
        ({"kind": "flag"}, "Choose one of this session&#x27;s flags."),
        ({"kind": "flag", "flag": "not-a-number"}, "Choose one of this session&#x27;s flags."),
        ({"kind": "case", "case": ""}, "Give the case reference"),
        ({"kind": "case", "case": "x"}, "Give the case reference"),
        ({"kind": "case", "case": "<script>alert(1)</script>"}, "Give the case reference"),
        ({"kind": "case", "case": "A" * 61}, "Give the case reference"),
    ],
)
def test_a_bad_purpose_is_refused_with_a_clear_error_and_changes_nothing(
    flagged: World, fields: dict[str, str], message: str
) -> None:
    client = client_as(flagged, "reviewer")
    before = AuditEvent.objects.count()
    response = client.post(access_url(flagged), fields)
    assert response.status_code == 400
    body = response.content.decode()
    assert "The session was not opened" in body
    assert message in body
    assert purposes(client) == {}
    assert AuditEvent.objects.count() == before
    assert client.get(review_url(flagged)).status_code == 302


def test_a_flag_of_another_session_is_not_a_purpose_for_this_one(flagged: World) -> None:
    other = ExamSessionFactory(exam=flagged.exam)
    analysed(other, score=1.0, flags={"speech": 1})
    foreign = Flag.objects.get(session=other)
    client = client_as(flagged, "reviewer")
    response = client.post(access_url(flagged), {"kind": "flag", "flag": str(foreign.pk)})
    assert response.status_code == 400
    assert purposes(client) == {}


def test_a_purpose_holds_for_its_session_only(flagged: World) -> None:
    other = ExamSessionFactory(exam=flagged.exam)
    analysed(other, score=1.0, flags={})
    client = client_as(flagged, "reviewer")
    state_purpose(client, flagged.session)
    assert client.get(review_url(flagged)).status_code == 200
    assert client.get(reverse("review_session", args=[other.pk])).status_code == 302


def test_a_sign_in_older_than_15_minutes_asks_for_the_password_again(flagged: World) -> None:
    client = client_as(flagged, "reviewer")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        page = client.get(access_url(flagged)).content.decode()
        assert 'type="password"' in page
        missing = client.post(access_url(flagged), {"kind": "appeal"})
        assert missing.status_code == 400
        assert "Type your password" in missing.content.decode()
        wrong = client.post(access_url(flagged), {"kind": "appeal", "password": "not-it"})
        assert wrong.status_code == 400
        assert "That is not your password" in wrong.content.decode()
        assert purposes(client) == {}
        refused = AuditEvent.objects.get(action="auth.reauthenticate")
        assert refused.outcome == "refused"
        right = client.post(access_url(flagged), {"kind": "appeal", "password": PASSWORD})
        assert right.status_code == 302
        assert list(
            AuditEvent.objects.filter(action="auth.reauthenticate").values_list("outcome", flat=True).order_by("seq")
        ) == ["refused", "done"]
        assert client.get(review_url(flagged)).status_code == 200


def test_a_purpose_lapses_after_its_window(flagged: World, settings: Any) -> None:
    settings.ACCESS_PURPOSE_MINUTES = 20
    client = client_as(flagged, "reviewer")
    state_purpose(client, flagged.session)
    with time_machine.travel(timezone.now() + timedelta(minutes=19)):
        assert client.get(review_url(flagged)).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=21)):
        assert client.get(review_url(flagged)).status_code == 302


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/admin/"])
def test_the_page_returns_only_to_this_sessions_review(flagged: World, next_url: str) -> None:
    client = client_as(flagged, "reviewer")
    response = client.post(access_url(flagged), {"kind": "appeal", "next": next_url})
    assert response["Location"] == review_url(flagged)


def people_named(action: str) -> set[int]:
    from proctor.models import AuditSubject

    entry = AuditEvent.objects.get(action=action)
    return set(AuditSubject.objects.filter(seq=entry.seq).values_list("subject_id", flat=True))


def test_the_course_export_and_dashboard_name_every_student_they_show(flagged: World) -> None:
    client = client_as(flagged, "instructor")
    students = {flagged.users["student"].pk, flagged.users["other_student"].pk}
    response = client.get(reverse("review_export", args=[flagged.course.pk]))
    b"".join(response.streaming_content)
    assert people_named("review.export") == students
    assert client.get(reverse("review_dashboard", args=[flagged.course.pk])).status_code == 200
    assert people_named("review.dashboard_view") == students
