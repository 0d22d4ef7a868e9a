"""End to end in real headless Chromium with a fake webcam (a real face), microphone and entire
screen, against real Daphne: consent, system check, exam, submit; then the stored recordings decrypt
and decode; each step of the exam page passes axe (WCAG 2.1 A and AA). And: the server goes away
mid-exam, comes back, and no chunk is lost."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import av
import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from analysis.models import AnalysisRun, Flag
from exams.models import Answer, ExamBreak, ExamSession, SessionStatus
from identity.models import BiometricConsent, IdentityCheck, IdentityProfile
from recordings.models import Recording, RecordingGap
from recordings.selectors import recording_plaintext
from tests.browser.axe import assert_accessible
from tests.conftest import screenshot
from tests.media import decoded_video_seconds

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(asgi_server: Any) -> None:
    call_command("seed_demo", stdout=io.StringIO())


def sign_in_and_open_the_exam(page: Any, base: str, username: str = "student1") -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("invigil-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Midterm: mechanics").click()
    page.get_by_role("link", name="Before you start: what is recorded").click()
    page.get_by_role("button", name="Continue: read the consent policy").click()
    page.get_by_label("I have read the policy above").check()
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_role("heading", name="System check")).to_be_visible()


def pass_the_check_and_start(page: Any) -> float:
    page.get_by_role("button", name="Check my camera, microphone and screen").click()
    # The check records a few seconds and the server reads them: generous, for a loaded test machine.
    page.locator("#check-problem:visible, [data-step=identity]:visible").first.wait_for(timeout=90_000)
    assert page.locator("#check-problem").is_hidden(), page.locator("#check-problem").inner_text()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    # Both ways are offered from the start: face matching under its own notice, or a person.
    expect(page.get_by_role("heading", name="A person checks my photo ID")).to_be_visible()
    page.get_by_role("button", name="Agree to face matching").click()  # not ticked yet: says so
    expect(page.locator("#identity-problem")).to_contain_text("Tick the box to agree to face matching")
    page.get_by_label("I have read the face-matching notice above").check()
    for button, done in (("Agree to face matching", "Agreed"), ("Enrol my face", "Enrolled")):
        page.get_by_role("button", name=button).click()
        page.locator("#identity-problem:visible, [data-state=ok] >> text=" + done).first.wait_for(timeout=30_000)
        assert page.locator("#identity-problem").is_hidden(), page.locator("#identity-problem").inner_text()
    screenshot(page, "identity")
    assert_accessible(page, "the identity step")
    page.get_by_role("button", name="Check my face").click()
    page.locator("#identity-problem:visible, [data-step=start]:visible").first.wait_for(timeout=30_000)
    assert page.locator("#identity-problem").is_hidden(), page.locator("#identity-problem").inner_text()
    expect(page.get_by_role("heading", name="Ready to start")).to_be_visible()
    page.get_by_role("button", name="Start the exam").click()
    started = time.monotonic()
    expect(page.locator("#recording-status")).to_have_text("Recording and uploading", timeout=20_000)
    return started


def submit_and_wait_for_the_upload(page: Any) -> float:
    page.get_by_role("button", name="Submit my answers").click()
    submitted = time.monotonic()
    expect(page.get_by_role("heading", name="Answers submitted")).to_be_visible()
    expect(page.locator("#exam-app")).to_have_attribute("data-uploaded", "true", timeout=60_000)
    return submitted


def wait_for_the_analysis(session: ExamSession) -> AnalysisRun:
    """The worker analyses the finished attempt; waiting for it also keeps it from writing while the
    test database is emptied after the test."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ExamSession.objects.get(pk=session.pk).status == SessionStatus.READY_FOR_REVIEW:
            break
        time.sleep(0.5)
    session.refresh_from_db()
    assert session.status == SessionStatus.READY_FOR_REVIEW
    return AnalysisRun.objects.get(session=session)


def webcam_and_screen(session: ExamSession) -> list[Recording]:
    return list(Recording.objects.filter(session=session).order_by("kind", "part"))


def test_a_student_takes_the_exam_and_the_recordings_decrypt_and_decode(
    media_page: Any, asgi_server: Any, demo: None, celery_worker_process: Any
) -> None:
    page = media_page
    sign_in_and_open_the_exam(page, asgi_server.url)
    screenshot(page, "system-check")
    started = pass_the_check_and_start(page)
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(29|30):\d\d$"))
    page.get_by_label("19.6 m/s").check()
    page.get_by_label("Your answer to question 4").fill("They are in free fall with their spacecraft.")
    expect(page.get_by_text("Saved at").first).to_be_visible()
    screenshot(page, "exam-in-progress")
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    submitted = submit_and_wait_for_the_upload(page)
    screenshot(page, "exam-finished")
    assert_accessible(page, "the finished exam")

    session = ExamSession.objects.get(student__username="student1")
    assert session.transitions.filter(to_status=SessionStatus.SUBMITTED).exists()
    check = IdentityCheck.objects.get(user__username="student1")
    assert (check.kind, check.matched, check.reference) == ("face_match", True, str(session.pk))
    assert "identity: face_match" in session.transitions.get(to_status=SessionStatus.READY).reason
    assert Answer.objects.filter(session=session).count() == 2
    recordings = webcam_and_screen(session)
    assert [(r.kind, r.part, r.status) for r in recordings] == [("screen", 0, "finalised"), ("webcam", 0, "finalised")]
    assert not RecordingGap.objects.exists()
    webcam = next(r for r in recordings if r.kind == "webcam")
    assert webcam.chunks.count() >= 3
    raw = b"".join(recording_plaintext(webcam))
    frames, seconds = decoded_video_seconds(raw)
    assert frames > 50
    assert seconds == pytest.approx(submitted - started, rel=0.1)

    # Finalisation queued the playback copy on Celery after commit; a real worker makes it.
    with av.open(io.BytesIO(raw)) as container:
        assert container.duration is None  # MediaRecorder writes no duration and no cues
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Recording.objects.filter(playback_name="").exists():
        time.sleep(0.5)
    for recording in webcam_and_screen(session):
        recording.refresh_from_db()
        assert recording.playback_name, f"no playback copy for the {recording.kind} recording"
        assert recording.duration_seconds == pytest.approx(submitted - started, rel=0.1)

    # The last finalisation queued the analysis; the worker runs it and the session awaits review.
    run = wait_for_the_analysis(session)
    # Chromium wrote a keyframe a second (videoKeyFrameIntervalDuration), so keyframes were enough.
    assert (run.status, run.statistics["decode_mode"]) == ("succeeded", "keyframes")
    assert run.statistics["frames_sampled"] >= 8
    # The student enrolled with this very webcam, alone and silent: no face or speech flags.
    assert not Flag.objects.filter(session=session, kind__in=["no_face", "multiple_faces", "face_mismatch", "speech"])


def test_when_the_server_goes_away_mid_exam_no_chunk_is_lost(
    media_page: Any, asgi_server: Any, demo: None, celery_worker_process: Any
) -> None:
    page = media_page
    sign_in_and_open_the_exam(page, asgi_server.url)
    started = pass_the_check_and_start(page)
    time.sleep(4)
    asgi_server.stop()
    expect(page.locator("#recording-status")).to_contain_text("Connection lost", timeout=10_000)
    time.sleep(7)  # two or three chunks per stream wait in IndexedDB
    asgi_server.start()
    expect(page.locator("#recording-status")).to_have_text("Recording and uploading", timeout=30_000)
    time.sleep(3)
    submitted = submit_and_wait_for_the_upload(page)

    session = ExamSession.objects.get(student__username="student1")
    for recording in webcam_and_screen(session):
        seqs = list(recording.chunks.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(len(seqs))), f"{recording.kind} chunks missing: {seqs}"
    assert not RecordingGap.objects.exists()
    webcam = Recording.objects.get(session=session, kind="webcam")
    frames, seconds = decoded_video_seconds(b"".join(recording_plaintext(webcam)))
    assert seconds == pytest.approx(submitted - started, rel=0.1)
    # Nothing was lost, so the analysis sees no gap either.
    assert wait_for_the_analysis(session).status == "succeeded"
    assert not Flag.objects.filter(session=session, kind="recording_gap").exists()


def test_after_a_page_reload_the_exam_continues_as_a_new_part_and_nothing_is_lost(
    media_page: Any, asgi_server: Any, demo: None, celery_worker_process: Any
) -> None:
    page = media_page
    sign_in_and_open_the_exam(page, asgi_server.url)
    pass_the_check_and_start(page)
    time.sleep(7)
    page.reload()
    expect(page.get_by_text("Your exam is in progress. Share your camera and entire screen again")).to_be_visible()
    page.get_by_role("button", name="Check my camera, microphone and screen").click()
    expect(page.locator("#recording-status")).to_have_text("Recording and uploading", timeout=30_000)
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(29|30):\d\d$"))
    # Checked here rather than where the recording's length is compared with the clock: axe takes CPU.
    assert_accessible(page, "the exam in progress")
    time.sleep(7)
    submit_and_wait_for_the_upload(page)

    session = ExamSession.objects.get(student__username="student1")
    webcam_parts = list(Recording.objects.filter(session=session, kind="webcam").order_by("part"))
    assert [r.part for r in webcam_parts] == [0, 1]
    for recording in Recording.objects.filter(session=session):
        seqs = list(recording.chunks.order_by("seq").values_list("seq", flat=True))
        assert seqs, f"{recording} has no chunks"
        assert seqs == list(range(len(seqs))), f"{recording} chunks missing: {seqs}"
        frames, seconds = decoded_video_seconds(b"".join(recording_plaintext(recording)))
        assert frames > 0
    assert not RecordingGap.objects.exists()
    # Both parts are analysed, each placed on the exam's clock from its first chunk's browser time.
    run = wait_for_the_analysis(session)
    assert run.statistics["webcam_parts"] == 2
    assert run.statistics["frames_sampled"] >= 8


def test_a_student_who_declines_face_matching_waits_for_a_person_who_decides_from_the_queue(
    media_page: Any, asgi_server: Any, demo: None
) -> None:
    page = media_page
    sign_in_and_open_the_exam(page, asgi_server.url)
    page.get_by_role("button", name="Check my camera, microphone and screen").click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible(timeout=30_000)
    screenshot(page, "identity-choice")
    assert_accessible(page, "the choice of identity check")
    page.get_by_role("button", name="Take a picture of my photo ID").click()
    page.locator("#identity-problem:visible, [data-check=manual] >> text=Waiting for a person").first.wait_for(
        timeout=30_000
    )
    assert page.locator("#identity-problem").is_hidden(), page.locator("#identity-problem").inner_text()
    expect(page.locator("#identity-instruction")).to_contain_text("Keep this page open")
    screenshot(page, "identity-waiting")
    assert_accessible(page, "identity check waiting for a person")
    # After a reload the page finds the request and waits on, without a second request.
    page.reload()
    page.get_by_role("button", name="Check my camera, microphone and screen").click()
    expect(page.locator("[data-check=manual]")).to_contain_text("Waiting for a person", timeout=30_000)

    # The request alone lets no one start: the session stays consented and the page keeps waiting.
    session = ExamSession.objects.get(student__username="student1")
    assert session.status == SessionStatus.CONSENTED
    answer = BiometricConsent.objects.get(user__username="student1")
    assert answer.decision == "declined"
    check = IdentityCheck.objects.get(user__username="student1")  # one, though the page was reloaded
    assert (check.kind, check.decision, check.reference) == ("manual_request", "pending", str(session.pk))
    assert not IdentityProfile.objects.filter(user__username="student1", template_sealed__isnull=False).exists()

    # The instructor, in their own browser, finds it from the course page with the photo ID and decides.
    staff = page.context.browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    staff.goto(f"{asgi_server.url}/accounts/login/")
    staff.get_by_label("Username").fill("instructor")
    staff.get_by_label("Password").fill("invigil-demo")
    staff.get_by_role("button", name="Sign in").click()
    staff.get_by_role("link", name=re.compile("PHYS101")).first.click()
    staff.get_by_role("link", name="Identity checks waiting for a person").click()
    expect(staff.get_by_role("heading", name="Identity checks", exact=True)).to_be_visible()
    photo = staff.get_by_role("img", name=re.compile("Photo ID shown by"))
    expect(photo).to_be_visible()
    assert photo.evaluate("image => image.naturalWidth") > 0
    screenshot(staff, "identity-queue")
    assert_accessible(staff, "identity-check queue of a course")
    staff.get_by_role("button", name="Confirm identity").click()  # no reason yet: the browser asks
    assert IdentityCheck.objects.get(pk=check.pk).decision == "pending"
    staff.get_by_label("Your reason (required)").fill("Student card name and photo match the class list.")
    staff.get_by_role("button", name="Confirm identity").click()
    expect(staff.get_by_text("Identity of")).to_contain_text("confirmed. The photo ID is deleted.")
    screenshot(staff, "identity-decided")
    assert_accessible(staff, "the decided identity check")
    check.refresh_from_db()
    assert (check.decision, check.decided_by.username) == ("confirmed", "instructor")
    assert IdentityProfile.objects.get(user__username="student1").id_photo_name == ""

    # The student's page, still open, sees the outcome by itself and may start.
    expect(page.get_by_role("heading", name="Ready to start")).to_be_visible(timeout=20_000)
    session.refresh_from_db()
    assert session.status == SessionStatus.READY
    assert "identity: manual_confirmed" in session.transitions.get(to_status=SessionStatus.READY).reason
    screenshot(page, "identity-confirmed-ready")
    assert_accessible(page, "the start step")
    staff.context.close()


def test_a_student_with_a_break_allowance_takes_a_break_and_the_clock_stands_still(
    media_page: Any, asgi_server: Any, demo: None
) -> None:
    # Issue 15, item 4. The demo's student3 may take one break of 10 minutes.
    page = media_page
    sign_in_and_open_the_exam(page, asgi_server.url, username="student3")
    pass_the_check_and_start(page)
    allowance = page.locator("#break-allowance")
    expect(allowance).to_have_text(
        "1 of 1 break left, 10 minutes of break time. The exam clock stops while you are away."
    )
    page.get_by_label("Your answer to question 4").fill("Written before the break.")
    page.get_by_role("button", name="Take a break").click()
    expect(page.get_by_role("heading", name="You are on a break")).to_be_visible()
    expect(page.get_by_role("heading", name="You are on a break")).to_be_focused()
    expect(page.locator("#break-clock")).to_have_text(re.compile(r"^(9:5\d|10:00)$"))
    expect(page.get_by_label("Your answer to question 4")).to_be_hidden()
    screenshot(page, "exam-break")
    assert_accessible(page, "the break page")
    session = ExamSession.objects.get(student__username="student3")
    on_break = ExamBreak.objects.get(session=session)
    assert on_break.ended_at is None
    # The answer typed just before the break was saved before the questions were hidden.
    assert session.answers.get().text == "Written before the break."
    time.sleep(3)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="I am back: continue the exam")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Your answer to question 4")).to_be_visible()
    expect(page.get_by_role("button", name="Take a break")).to_be_disabled()
    expect(allowance).to_have_text("You have taken your 1 break.")
    on_break.refresh_from_db()
    session.refresh_from_db()
    assert on_break.ended_at is not None
    assert session.deadline is not None
    # The clock stood still for the break: the deadline moved on by exactly its length.
    assert session.deadline - on_break.deadline_before == on_break.ended_at - on_break.started_at
    screenshot(page, "exam-after-break")
    assert_accessible(page, "the exam page after a break")
    submit_and_wait_for_the_upload(page)
