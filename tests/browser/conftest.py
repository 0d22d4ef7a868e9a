"""Shared by the browser tests: the demo's flagged attempt, and database work kept off Playwright's
event loop."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from exams.models import ExamSession
from review.demo.attempt import EXAM_TITLE


def off_the_main_thread(work: Any) -> Any:
    """Database work that sends realtime events runs away from Playwright's event loop."""

    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def demo_attempt(transactional_db: None, demo_media_encoded_once: None) -> ExamSession:
    def seed() -> ExamSession:
        call_command("seed_demo_recordings", stdout=io.StringIO())
        return ExamSession.objects.select_related("exam").get(exam__title=EXAM_TITLE, student__username="student2")

    return off_the_main_thread(seed)


def state_purpose_with_keyboard(page: Any, *, case: str = "AI-2026-0142", shot: str = "") -> None:
    """On the purpose page a session's review opens through, give a case reference with the keyboard."""
    from playwright.sync_api import expect

    from tests.conftest import screenshot

    expect(page.get_by_role("heading", name="Why do you need to see this session?")).to_be_visible()
    if shot:
        screenshot(page, shot)
    page.get_by_label("For a case (academic integrity or appeal)").focus()
    page.keyboard.press("Space")
    page.get_by_label("Case reference").fill(case)
    with page.expect_navigation():
        page.get_by_role("button", name="Open the session").press("Enter")
