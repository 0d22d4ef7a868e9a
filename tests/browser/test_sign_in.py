"""In a real browser: signing in with the keyboard, the dashboard per role, and the lockout."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())


def sign_in_with_keyboard(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/")
    page.keyboard.press("Tab")  # the skip link comes first
    page.get_by_label("Username").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_student_signs_in_with_the_keyboard_and_sees_their_exam(page: Any, live_server: Any, demo: None) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r".*/accounts/login/\?next=/$"))
    screenshot(page, "login")
    sign_in_with_keyboard(page, live_server.url, "student3", "invigil-demo")
    expect(page.get_by_role("heading", name="Welcome, Kai")).to_be_visible()
    row = page.get_by_role("row", name="Midterm: mechanics")
    expect(row).to_be_visible()
    expect(row).to_contain_text("38 minutes")  # 30 minutes with a 1.25 accommodation
    screenshot(page, "student-dashboard")
    row.get_by_role("link", name="Midterm: mechanics", exact=True).click()
    expect(page.get_by_role("heading", name="Midterm: mechanics")).to_be_visible()
    expect(page.get_by_text("25% extra time")).to_be_visible()
    screenshot(page, "student-exam")


def test_an_instructor_sees_courses_and_the_session_list(page: Any, live_server: Any, demo: None) -> None:
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101 Introductory Physics").click()
    page.get_by_role("link", name="Midterm: mechanics", exact=True).click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.get_by_text("No student has opened this exam yet.")).to_be_visible()
    expect(page.get_by_role("heading", name="Accommodations")).to_be_visible()
    screenshot(page, "instructor-exam")


def test_five_wrong_passwords_lock_the_account_with_a_clear_message(page: Any, live_server: Any, demo: None) -> None:
    for _ in range(5):
        sign_in_with_keyboard(page, live_server.url, "student1", "not-my-password")
    expect(page.get_by_role("alert")).to_be_visible()
    sign_in_with_keyboard(page, live_server.url, "student1", "invigil-demo")
    expect(page.get_by_text("Too many failed sign-in attempts")).to_be_visible()
    screenshot(page, "locked-out")


def test_the_admin_opens_the_administration(page: Any, live_server: Any, demo: None) -> None:
    sign_in_with_keyboard(page, live_server.url, "admin", "invigil-demo")
    page.get_by_role("link", name="Administration").first.click()
    expect(page.get_by_text("Policies, courses and exams")).to_be_visible()
    screenshot(page, "admin-index")
