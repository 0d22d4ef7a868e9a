"""End to end in headless Chromium (issue 16, item 5): an LMS Invigil did not write (tests/lms, on
lti1p3platform) launches a proctored attempt; the student goes through Invigil's consent, system check and
identity check; the LMS's quiz opens while Invigil records (in a frame, or in a window of its own for an
LMS that refuses framing); submitting it there sends LtiEndAssessment, and the session is analysed and
ready for review.

Invigil and the LMS both listen on 127.0.0.1 (other ports, so other origins but the same site): over plain
HTTP the login's state cookie can only be SameSite=Lax, which the LMS's cross-site form post would not
carry. Over HTTPS it is SameSite=None (tests/lti/test_launch.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from exams.models import Course, Exam, ExamSession, SessionStatus
from lti.models import ProctoringAttempt
from recordings.models import BrowserSignal, Recording
from tests.browser.axe import assert_accessible
from tests.browser.test_exam_recording import pass_the_check_and_start, wait_for_the_analysis
from tests.conftest import screenshot
from tests.lms.conftest import add_the_cast, rsa_key
from tests.lms.platform import FakeLms
from tests.lti.through_the_lms import lms_in_invigil

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def invigil_in(lms: FakeLms, base: str, *, display: str = "frame") -> Exam:
    """Invigil registered in the LMS and the LMS in Invigil, and the LMS's quiz set up in Invigil."""
    call_command("seed_demo", stdout=io.StringIO())
    course = Course.objects.get(code="PHYS101")
    lms.register_tool(
        client_id="invigil",
        deployment_id="deployment-1",
        login_url=f"{base}/lti/login/",
        launch_url=f"{base}/lti/launch/",
        key_set_url=f"{base}/lti/jwks/",
    )
    return lms_in_invigil(lms, course, display=display)


def start_from_the_lms(page: Any, lms: FakeLms) -> None:
    page.goto(lms.course_url("course-phys101", user="learner-1"))
    page.get_by_role("link", name="Start proctored quiz").click()
    # LtiStartProctoring: Invigil's consent comes first, as for any exam.
    page.get_by_label("I have read the policy above").check()
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_role("heading", name="System check")).to_be_visible()


@pytest.fixture
def lms() -> Any:
    with add_the_cast(FakeLms(key=rsa_key(1))) as lms:
        yield lms


def test_a_proctored_attempt_of_the_lms_from_its_launch_to_review(
    media_page: Any, asgi_server: Any, lms: FakeLms, celery_worker_process: Any
) -> None:
    fake_lms = lms
    page, base = media_page, asgi_server.url.replace("localhost", "127.0.0.1")
    exam = invigil_in(fake_lms, base)
    start_from_the_lms(page, fake_lms)
    pass_the_check_and_start(page)

    # LtiStartAssessment, signed by Invigil, opens the LMS's quiz in the exam page's frame.
    quiz = page.frame_locator("#assessment-frame")
    expect(quiz.get_by_role("heading", name="Quiz: Midterm quiz")).to_be_visible(timeout=20_000)
    expect(page.locator("#recording-status")).to_have_text("Recording and uploading")
    screenshot(page, "lms-assessment-framed")
    assert_accessible(page, "the exam page with the LMS's assessment")
    quiz.get_by_label("What is 6 × 7?").fill("42")
    page.wait_for_timeout(4000)  # a few chunks' worth of recording
    quiz.get_by_role("button", name="Submit").click()

    # LtiEndAssessment: the LMS ends the attempt; the exam page stops recording and uploads the rest. The frame
    # lands on Invigil's "Assessment finished", unless the exam page has hidden it first with the rest of the
    # exam (which of the two comes first is a race): counted, not seen.
    expect(quiz.locator("h1", has_text="Assessment finished")).to_have_count(1, timeout=20_000)
    expect(page.get_by_role("heading", name="Assessment finished").first).to_be_visible(timeout=20_000)
    expect(page.locator("#exam-app")).to_have_attribute("data-uploaded", "true", timeout=60_000)
    screenshot(page, "lms-assessment-ended")

    session = ExamSession.objects.get(exam=exam)
    attempt = ProctoringAttempt.objects.get(session=session)
    assert attempt.ended_by_lms_at is not None
    assert session.transitions.filter(to_status=SessionStatus.SUBMITTED).exists()
    (lms_attempt,) = fake_lms.attempts.values()
    assert (lms_attempt.status, lms_attempt.answer) == ("complete", "42")
    assert not [r for r in fake_lms.refusals if r.endpoint != "/favicon.ico"]
    kinds = sorted(Recording.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds == ["screen", "webcam"]
    run = wait_for_the_analysis(session)
    assert run.status == "succeeded"

    # The course's instructor asks the LMS, through its Assessment Control Service, to flag the attempt.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("instructor")
    page.get_by_label("Password").fill("invigil-demo")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/lti/sessions/{session.pk}/control/")
    expect(page.get_by_role("heading", name="Assessment control in Test LMS")).to_be_visible()
    assert_accessible(page, "the assessment control page")
    page.get_by_label("What the LMS should do").select_option("flag")
    page.get_by_label("Why").fill("The recording shows notes on the desk; please look at this attempt.")
    page.get_by_role("button", name="Send to Test LMS").click()
    expect(page.get_by_role("status")).to_contain_text("Flag the attempt: Accepted by the LMS")
    screenshot(page, "lms-assessment-control")
    (control,) = fake_lms.controls
    assert (control["action"], control["user"]["sub"]) == ("flag", "learner-1")


def test_an_lms_that_refuses_framing_shows_its_assessment_in_a_window_beside_the_recording(
    media_page: Any, asgi_server: Any, celery_worker_process: Any
) -> None:
    page, base = media_page, asgi_server.url.replace("localhost", "127.0.0.1")
    with add_the_cast(FakeLms(key=rsa_key(1), forbid_framing=True)) as lms:
        exam = invigil_in(lms, base, display="window")
        start_from_the_lms(page, lms)
        pass_the_check_and_start(page)
        expect(page.locator("#assessment-frame")).to_be_hidden()
        with page.context.expect_page() as opened:
            page.get_by_role("button", name="Open it in its own window").click()
        window = opened.value
        expect(window.get_by_role("heading", name="Quiz: Midterm quiz")).to_be_visible(timeout=20_000)
        screenshot(window, "lms-assessment-window")
        window.get_by_label("What is 6 × 7?").fill("42")
        window.get_by_role("button", name="Submit").click()
        expect(window.get_by_role("heading", name="Assessment finished")).to_be_visible(timeout=20_000)
        page.bring_to_front()
        expect(page.get_by_role("heading", name="Assessment finished").first).to_be_visible(timeout=20_000)
        expect(page.locator("#exam-app")).to_have_attribute("data-uploaded", "true", timeout=60_000)
        session = ExamSession.objects.get(exam=exam)
        assert ProctoringAttempt.objects.get(session=session).display == "window"
        assert BrowserSignal.objects.filter(session=session, kind="assessment_window").exists()
        wait_for_the_analysis(session)
