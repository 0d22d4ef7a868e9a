"""In a real browser: an instructor opens the course's review dashboard, reads it highest score
first, filters it with the keyboard, and sees a student's new session appear live."""

from __future__ import annotations

import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import expect

from exams.models import Exam, ExamSession, SessionStatus
from identity.models import User
from tests.browser.conftest import state_purpose_with_keyboard
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot
from tests.review.test_dashboard import analysed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flagged(transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    exam = Exam.objects.get(title="Midterm: mechanics")
    sessions = {
        name: ExamSession.objects.create(exam=exam, student=User.objects.get(username=name))
        for name in ("student1", "student2", "student3")
    }
    analysed(sessions["student1"], score=3.2, flags={"no_face": 1, "recording_gap": 1})
    analysed(sessions["student2"], score=27.5, flags={"face_mismatch": 1, "speech": 2})


def test_an_instructor_reviews_the_course_highest_score_first_and_filters_by_keyboard(
    page: Any, asgi_server: Any, flagged: None
) -> None:
    sign_in_with_keyboard(page, asgi_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101 Introductory Physics").click()
    page.get_by_role("link", name="Review sessions").click()
    expect(page.get_by_role("heading", name="Review sessions: PHYS101 Introductory Physics")).to_be_visible()
    rows = page.locator("#review-sessions tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Noor")
    expect(rows.nth(0)).to_contain_text("27.5")
    expect(rows.nth(0)).to_contain_text("Face did not match: 1")
    expect(rows.nth(1)).to_contain_text("Recording gap: 1")
    expect(rows.nth(2)).to_contain_text("Not yet")
    expect(page.locator("#live-status")).to_have_text("Live updates are on.")
    screenshot(page, "review-dashboard")

    page.get_by_label("Flag type").focus()
    page.get_by_label("Flag type").select_option("speech")
    page.keyboard.press("Tab")  # past "Review state"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show sessions")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(page.get_by_text("1 session match these filters.")).to_be_visible()
    screenshot(page, "review-dashboard-filtered")


def test_a_session_a_student_opens_appears_on_the_open_dashboard_without_a_reload(
    page: Any, chromium: Any, asgi_server: Any, transactional_db: None
) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    sign_in_with_keyboard(page, asgi_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101 Introductory Physics").click()
    page.get_by_role("link", name="Review sessions").click()
    expect(page.get_by_text("No student has taken an exam of this course yet.")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live updates are on.")
    page.evaluate("window.notReloaded = true")

    student = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        exam = student.new_page()
        sign_in_with_keyboard(exam, asgi_server.url, "student1", "invigil-demo")
        exam.get_by_role("link", name="Midterm: mechanics").click()
        exam.get_by_role("link", name="Before you start: what is recorded").click()
        exam.get_by_role("button", name="Continue: read the consent policy").click()
        expect(exam.get_by_role("button", name="Agree and continue")).to_be_visible()

        row = page.locator("#review-sessions tbody tr", has_text="Sam Student")
        expect(row).to_contain_text("Not started")
        expect(page.locator("#session-count")).to_have_text("1 session.")
        screenshot(page, "review-dashboard-live")

        exam.get_by_label("I have read the policy above").check()
        exam.get_by_role("button", name="Agree and continue").click()
        expect(row.locator('[data-cell="status"]')).to_have_text("Consent given")
    finally:
        student.close()
    assert page.evaluate("window.notReloaded === true")


@pytest.fixture
def recorded(transactional_db: None) -> ExamSession:
    """A demo student's attempt recorded from the "second face" scenario, with playback copies, analysed."""
    from types import SimpleNamespace

    from analysis.services import analysis_run
    from recordings.models import Recording
    from recordings.services import recording_make_playback_copy
    from tests import scenarios
    from tests.analysis.conftest import enrol, record_attempt

    def prepare() -> ExamSession:
        try:
            call_command("seed_demo", stdout=io.StringIO())
            exam = Exam.objects.get(title="Midterm: mechanics")
            exam.record_screen = False
            exam.save()
            student = User.objects.get(username="student2")
            enrol(student)
            session = ExamSession.objects.create(exam=exam, student=student)
            item = scenarios.scenario("second_face")
            attempt = SimpleNamespace(session=session)
            record_attempt(attempt, webm=scenarios.recording(item), seconds=item.seconds)  # type: ignore[arg-type]
            for recording in Recording.objects.filter(session=session):
                recording_make_playback_copy(recording_id=recording.pk)
            # Finalising queued the analysis too: whichever gets there first (this call, or a Celery
            # worker left running by an earlier test) does it, and the other finds nothing to do.
            analysis_run(session_id=session.pk)
            deadline = time.monotonic() + 120
            while ExamSession.objects.get(pk=session.pk).status != SessionStatus.READY_FOR_REVIEW:
                assert time.monotonic() < deadline, "the analysis did not finish"
                time.sleep(0.5)
            return ExamSession.objects.select_related("exam").get(pk=session.pk)
        finally:
            connection.close()

    # Off the main thread: Playwright's event loop runs there, and the analysis sends realtime events.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(prepare).result()


def test_an_instructor_opens_a_flagged_session_and_jumps_to_a_flag(
    page: Any, asgi_server: Any, recorded: ExamSession
) -> None:
    sign_in_with_keyboard(page, asgi_server.url, "instructor", "invigil-demo")
    page.goto(f"{asgi_server.url}/review/courses/{recorded.exam.course_id}/")
    page.get_by_role("link", name="Noor Student").click()
    state_purpose_with_keyboard(page)
    expect(page.get_by_role("heading", name="Noor Student: Midterm: mechanics")).to_be_visible()
    expect(page.get_by_role("heading", name="Flags (2)")).to_be_visible()
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1", timeout=15_000)
    pictures = page.get_by_role("img", name="Evidence picture for this flag")
    expect(pictures).to_have_count(2)
    page.wait_for_function(
        "[...document.querySelectorAll('.flag__picture')].every((img) => img.complete && img.naturalWidth === 160)"
    )

    second = page.locator(".flag").nth(1)
    second.get_by_role("button", name="Play from here").click()
    start = float(second.get_attribute("data-start") or 0)
    page.wait_for_function(
        f"Math.abs(document.getElementById('webcam-player').currentTime - {start}) < 1.5", timeout=15_000
    )
    expect(page.locator("#position")).to_have_text(re.compile(r"^2:1\d$"))  # the 6-second second face at 2:10
    screenshot(page, "review-session")

    page.keyboard.press("p")  # back to the first flag, by keyboard
    first_start = float(page.locator(".flag").nth(0).get_attribute("data-start") or 0)
    page.wait_for_function(
        f"Math.abs(document.getElementById('webcam-player').currentTime - {first_start}) < 1.5", timeout=15_000
    )
    expect(page.locator(".flag").nth(0).get_by_role("button", name="Play from here")).to_be_focused()
