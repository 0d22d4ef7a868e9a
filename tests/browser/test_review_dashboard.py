"""In a real browser: an instructor opens the course's review dashboard, reads it highest score
first, and filters it with the keyboard."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from exams.models import Exam, ExamSession
from identity.models import User
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
