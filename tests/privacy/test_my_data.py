"""A student's "My data" page: what Invigil holds about them, when it goes, who accessed their
recordings, a zip of all of it, and deleting their identity profile outside an exam."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exams.models import ConsentDecision, ConsentRecord, ExamSession
from exams.models import SessionStatus as S
from identity.models import IdentityCheck, IdentityProfile
from identity.services import identity_enrol, identity_store_id_photo, identity_verify
from privacy.selectors import my_data
from privacy.services import hold_set, purge_due
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keystore import period_end, period_id_for
from proctor.models import AuditEvent, DataKey
from proctor.templatetags.moments import day
from recordings.models import BrowserSignal, Recording
from recordings.services import recording_start
from tests.analysis.conftest import jpeg
from tests.conftest import ROLES, World, agree_to_face_matching, state_purpose
from tests.factories import ConsentPolicyFactory, ExamSessionFactory
from tests.privacy.conftest import DAY, closed, dismissed_tab_flag, webcam_webm

MY_DATA = reverse("my_data")
DOWNLOAD = reverse("my_data_download")
DELETE = reverse("identity_profile_delete")
ID_PHOTO = reverse("my_id_photo")


def signed_in(client: Client, user: Any) -> Client:
    if user is not None:
        client.force_login(user)
    return client


def enrolled(world: World) -> IdentityProfile:
    student = world.users["student"]
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    identity_verify(user=student, frame=jpeg("obama2.jpg"), reference=str(world.session.pk))
    # Stored after the match: a photo ID stored before it is destroyed once the match is done.
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    return IdentityProfile.objects.select_related("data_key").get(user=student)


def consented(world: World) -> None:
    policy = ConsentPolicyFactory(institution=world.course.institution, version=7)
    ConsentRecord.objects.create(
        session=world.session, policy=policy, policy_version=7, decision=ConsentDecision.CONSENTED
    )


# --- The page -----------------------------------------------------------------------------------


def test_the_page_shows_the_profile_each_recording_with_its_purge_date_and_the_consents(
    recorded: World, client: Client
) -> None:
    enrolled(recorded)
    consented(recorded)
    page = signed_in(client, recorded.users["student"]).get(MY_DATA)
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store, private"
    text = page.content.decode()
    assert "Held, encrypted. Made when you enrolled" in text  # a face template exists
    assert f'src="{ID_PHOTO}"' in text
    purge_at = closed(recorded) + timedelta(days=180)
    assert f"Deleted on <strong>{day(purge_at)}</strong>" in text
    assert "Webcam" in text
    assert "Consented: Recording policy version 7" in text


def test_flags_and_their_verdicts_show_only_once_a_person_has_reviewed_the_session(
    recorded: World, client: Client
) -> None:
    ExamSession.objects.filter(pk=recorded.session.pk).update(status=S.READY_FOR_REVIEW)
    client = signed_in(client, recorded.users["student"])
    waiting = client.get(MY_DATA).content.decode()
    assert "1 moment marked for a person to look at" in waiting
    assert "The exam tab was hidden." not in waiting

    ExamSession.objects.filter(pk=recorded.session.pk).update(status=S.CLEARED)
    decided = client.get(MY_DATA).content.decode()
    assert "The exam tab was hidden." in decided
    assert "Reviewer's verdict: <strong>Dismissed</strong> (Remi Reviewer): fine" in decided


def test_someone_with_nothing_held_sees_empty_states(world: World, client: Client) -> None:
    text = signed_in(client, world.users["outsider"]).get(MY_DATA).content.decode()
    assert "Invigil holds no identity profile for you" in text
    assert "You have not opened any exam in Invigil." in text
    assert "No one has accessed your recordings." in text


def test_who_played_the_recordings_is_listed_from_the_audit_log_and_outlives_the_purge(
    recorded: World, client: Client
) -> None:
    recording = Recording.objects.get(session=recorded.session)
    reviewer = recorded.users["reviewer"]
    reviewer.first_name, reviewer.last_name = "Remi", "Reviewer"
    reviewer.save()
    reviewer_client = signed_in(Client(), reviewer)
    state_purpose(reviewer_client, recorded.session, kind="case", case="AI-2026-0142")
    for _ in range(3):
        response = reviewer_client.get(reverse("recording_playback", args=[recording.pk]), HTTP_RANGE="bytes=0-99")
        assert response.status_code == 206
        assert len(b"".join(response.streaming_content)) == 100
    student_client = signed_in(client, recorded.users["student"])
    accesses = my_data(recorded.users["student"]).accesses
    assert [(a.who, a.what, a.why, a.times) for a in accesses] == [
        ("Remi Reviewer", "Played your recordings", "case AI-2026-0142", 3)
    ]
    page = student_client.get(MY_DATA).content.decode()
    assert "Remi Reviewer" in page
    assert "case AI-2026-0142" in page

    with time_machine.travel(closed(recorded) + 181 * DAY):
        assert purge_due().recordings == 1
    after = my_data(recorded.users["student"])
    assert [(a.who, a.times) for a in after.accesses] == [("Remi Reviewer", 3)]
    assert after.sessions[0].purged_at is not None
    assert "Deleted on schedule on" in student_client.get(MY_DATA).content.decode()


def test_a_legal_hold_is_shown_as_keeping_the_recordings(recorded: World, client: Client) -> None:
    hold_set(session_id=recorded.session.pk, reason="Case 12", actor=recorded.users["admin"])
    text = signed_in(client, recorded.users["student"]).get(MY_DATA).content.decode()
    assert "kept past that date while a legal hold stands" in text
    assert "Case 12" not in text


def a_full_session(world: World) -> None:
    """Another session of the student's with a consent, a recording a reviewer played, a signal, and a
    flag with its verdict."""
    session = ExamSessionFactory(student=world.users["student"], status=S.CLEARED)
    policy = ConsentPolicyFactory(institution=session.exam.course.institution)
    ConsentRecord.objects.create(session=session, policy=policy, policy_version=policy.version, decision="consented")
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    audit_record(actor=world.users["reviewer"], action=AuditAction.RECORDING_PLAY, target=recording, detail={})
    BrowserSignal.objects.create(session=session, kind="tab_hidden", client_time=timezone.now())
    dismissed_tab_flag(session)


def test_the_page_takes_the_same_number_of_queries_for_one_full_session_or_many(world: World, client: Client) -> None:
    client = signed_in(client, world.users["student"])
    client.get(reverse("home"))  # the sign-in's first request notes its start (exams/staff_sessions.py)
    a_full_session(world)
    with CaptureQueriesContext(connection) as one:
        assert client.get(MY_DATA).status_code == 200
    for _ in range(4):
        a_full_session(world)
    with CaptureQueriesContext(connection) as five:
        page = client.get(MY_DATA)
    assert page.content.decode().count("The exam tab was hidden.") == 5
    assert len(my_data(world.users["student"]).accesses) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


def test_browser_signals_alone_have_the_recordings_purge_date(world: World) -> None:
    BrowserSignal.objects.create(session=world.session, kind="tab_hidden", client_time=timezone.now())
    (item,) = my_data(world.users["student"]).sessions
    assert item.purge_at == world.exam.closes_at + timedelta(days=180)


# --- Who may see what: the pages are about the signed-in user only ----------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_their_own_data_and_the_anonymous_are_sent_to_sign_in(
    world: World, client: Client, role: str
) -> None:
    user = world.users[role]
    client = signed_in(client, user)
    for url, method in ((MY_DATA, "get"), (DELETE, "get"), (DOWNLOAD, "post"), (ID_PHOTO, "get")):
        response = getattr(client, method)(url)
        if user is None:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))
            continue
        assert response.status_code == (404 if url == ID_PHOTO else 200), url
        if url == MY_DATA:
            shown = {s.session.pk for s in my_data(user).sessions}
            expected = set(ExamSession.objects.filter(student=user).values_list("pk", flat=True))
            assert shown == expected
            assert (str(world.session.pk) in response.content.decode()) == (role == "student")
        if url == DOWNLOAD:
            archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
            document = json.loads(archive.read("data.json"))
            assert document["student"]["username"] == user.get_username()
            assert {s["id"] for s in document["sessions"]} == {str(pk) for pk in expected}


def test_the_download_and_the_photo_refuse_get_and_post_where_they_do_not_belong(world: World, client: Client) -> None:
    client = signed_in(client, world.users["student"])
    assert client.get(DOWNLOAD).status_code == 405
    assert client.post(MY_DATA).status_code == 405
    assert client.post(ID_PHOTO).status_code == 405


# --- The photo and the copy -----------------------------------------------------------------------


def test_the_student_sees_their_own_photo_id_decrypted_and_the_view_is_audited(world: World, client: Client) -> None:
    enrolled(world)
    response = signed_in(client, world.users["student"]).get(ID_PHOTO)
    assert response.status_code == 200
    assert response.content == jpeg("obama2.jpg")
    assert response["Cache-Control"] == "no-store, private"
    assert response["Content-Disposition"] == "inline"
    assert AuditEvent.objects.filter(action="identity.id_photo_view", actor_id=world.users["student"].pk).exists()


def test_the_copy_is_a_zip_of_the_decrypted_media_and_everything_else_as_json(recorded: World, client: Client) -> None:
    enrolled(recorded)
    consented(recorded)
    ExamSession.objects.filter(pk=recorded.session.pk).update(status=S.CLEARED)
    response = signed_in(client, recorded.users["student"]).post(DOWNLOAD)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="invigil-my-data-student-')
    assert response["Cache-Control"] == "no-store, private"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    assert archive.read("identity/id-photo.jpg") == jpeg("obama2.jpg")
    document = json.loads(archive.read("data.json"))
    (session,) = document["sessions"]
    (recording,) = session["recordings"]
    recording_id = str(Recording.objects.get(session=recorded.session).pk)
    assert archive.read(recording["file"]) == webcam_webm()  # the very bytes the browser sent
    assert session["recordings_purge_at"].startswith(f"{closed(recorded) + timedelta(days=180):%Y-%m-%d}")
    assert session["consents"][0]["decision"] == "Consented"
    assert session["browser_signals"][0]["kind"]
    assert session["review"]["flags"][0]["reason"] == "The exam tab was hidden."
    assert session["review"]["flags"][0]["reviewer_verdict"] == "Dismissed"
    profile = document["identity_profile"]
    assert profile["face_template"]["exists"] is True
    assert len(profile["face_template"]["values"]) == 128
    assert profile["face_checks"][0]["matched"] is True
    assert document["problems"] == []
    assert "README.txt" in archive.namelist()
    event = AuditEvent.objects.get(action="privacy.export", actor_id=recorded.users["student"].pk)
    assert event.detail["recordings"] == [recording_id]
    assert (event.detail["face_template"], event.detail["id_photo"]) == (True, True)
    for read in ("identity.template_read", "identity.id_photo_view"):  # each decrypting read, in the student's name
        assert AuditEvent.objects.filter(
            action=read, actor_id=recorded.users["student"].pk, detail__purpose="export"
        ).exists()


def test_a_recording_that_cannot_be_decrypted_is_named_in_the_copy_not_a_broken_zip(
    recorded: World, client: Client
) -> None:
    recording = Recording.objects.select_related("data_key").get(session=recorded.session)
    DataKey.objects.filter(pk=recording.data_key_id).update(wrapped=None, destroyed_at=closed(recorded))
    response = signed_in(client, recorded.users["student"]).post(DOWNLOAD)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    (problem,) = json.loads(archive.read("data.json"))["problems"]
    assert "could not be read in full" in problem


# --- Deleting the identity profile ------------------------------------------------------------------


def test_the_student_deletes_their_profile_and_it_is_crypto_shredded(world: World, client: Client) -> None:
    profile = enrolled(world)
    photo_name = profile.id_photo_name
    with default_storage.open(photo_name, "rb") as stored:
        copy_before = stored.read()
    key_before = profile.data_key
    client = signed_in(client, world.users["student"])
    page = client.get(DELETE).content.decode()
    assert "Delete my identity profile" in page
    # A new profile's key is in this month's period: backups can read it until that key goes.
    assert key_before.kek_id == period_id_for(timezone.now())
    until = day(period_end(key_before.kek_id) + 2 * DAY)
    assert f"Invigil destroys that second key by {until}; from then on no backup can read your profile" in page

    response = client.post(DELETE, {"confirm": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == MY_DATA
    assert "Your identity profile is deleted" in response.content.decode()
    assert not IdentityProfile.objects.filter(user=world.users["student"]).exists()
    assert not IdentityCheck.objects.filter(user=world.users["student"]).exists()
    assert not DataKey.objects.filter(pk=key_before.pk).exists()
    assert not default_storage.exists(photo_name)
    assert copy_before  # sealed under a key that no longer exists anywhere: the copy is noise
    assert not DataKey.objects.filter(wrapped__isnull=False, purpose="identity").exists()
    event = AuditEvent.objects.get(action="identity.profile_delete")
    assert event.actor_id == world.users["student"].pk
    assert event.detail == {"face_template": True, "id_photo": True, "face_checks": 1}
    agree_to_face_matching(world.users["student"])
    identity_enrol(user=world.users["student"], frames=[jpeg("obama.jpg")] * 3)  # and may enrol again


def test_deleting_needs_the_box_ticked_and_changes_nothing_without_it(world: World, client: Client) -> None:
    enrolled(world)
    response = signed_in(client, world.users["student"]).post(DELETE, {})
    assert response.status_code == 400
    assert "Tick the box to confirm" in response.content.decode()
    assert IdentityProfile.objects.filter(user=world.users["student"]).exists()
    assert not AuditEvent.objects.filter(action="identity.profile_delete").exists()


@pytest.mark.parametrize("status", [S.READY, S.STARTED, S.SUBMITTED, S.TIMED_OUT, S.ABANDONED, S.ANALYSING])
def test_the_profile_cannot_be_deleted_from_the_identity_check_until_the_analysis_used_it(
    world: World, client: Client, status: str
) -> None:
    profile = enrolled(world)
    ExamSession.objects.filter(pk=world.session.pk).update(status=status)
    client = signed_in(client, world.users["student"])
    assert "Your identity profile is in use for Midterm" in client.get(DELETE).content.decode()
    response = client.post(DELETE, {"confirm": "yes"})
    assert response.status_code == 409
    assert "Your identity profile is in use for Midterm" in response.content.decode()
    profile.data_key.refresh_from_db()
    assert profile.data_key.wrapped is not None
    assert default_storage.exists(profile.id_photo_name)
    assert IdentityCheck.objects.filter(user=world.users["student"]).exists()
    assert not AuditEvent.objects.filter(action="identity.profile_delete").exists()


def test_a_legal_hold_on_any_of_the_students_sessions_keeps_the_profile(world: World, client: Client) -> None:
    profile = enrolled(world)
    ExamSession.objects.filter(pk=world.session.pk).update(status=S.CLEARED)
    hold_set(session_id=world.session.pk, reason="Case 9", actor=world.users["admin"])
    client = signed_in(client, world.users["student"])
    assert "kept under a legal hold" in client.get(MY_DATA).content.decode()
    response = client.post(DELETE, {"confirm": "yes"})
    assert response.status_code == 409
    assert "kept under a legal hold" in response.content.decode()
    assert "Case 9" not in response.content.decode()
    profile.data_key.refresh_from_db()
    assert profile.data_key.wrapped is not None


@pytest.mark.parametrize(
    "status", [S.CONSENTED, S.DECLINED, S.ANALYSIS_FAILED, S.READY_FOR_REVIEW, S.CLEARED, S.CONCERN_CONFIRMED]
)
def test_outside_an_exam_and_its_check_the_profile_can_be_deleted(world: World, client: Client, status: str) -> None:
    enrolled(world)
    ExamSession.objects.filter(pk=world.session.pk).update(status=status)
    assert signed_in(client, world.users["student"]).post(DELETE, {"confirm": "yes"}).status_code == 302
    assert not IdentityProfile.objects.filter(user=world.users["student"]).exists()


def test_with_no_profile_there_is_nothing_to_delete(world: World, client: Client) -> None:
    client = signed_in(client, world.users["student"])
    assert "There is nothing to delete" in client.get(DELETE).content.decode()
    response = client.post(DELETE, {"confirm": "yes"})
    assert response.status_code == 409
    assert "You have no identity profile to delete." in response.content.decode()
