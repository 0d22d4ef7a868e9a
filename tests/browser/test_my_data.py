"""End to end in real headless Chromium: after the instructor has played her recordings, Noor opens
"My data" from the menu with the keyboard, sees her profile, her recording with its purge date and
who played it, downloads her copy, and deletes her identity profile."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from exams.models import ExamSession
from identity.models import IdentityProfile
from proctor.models import AuditEvent
from proctor.moments import day_text
from recordings.models import Recording
from tests.browser.conftest import off_the_main_thread, state_purpose_with_keyboard
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_student_reads_downloads_and_deletes_her_data(
    page: Any,
    asgi_server: Any,
    demo_attempt: ExamSession,
) -> None:
    # The instructor plays the webcam recording: that access is what Noor will see.
    sign_in_with_keyboard(page, asgi_server.url, "instructor", "invigil-demo")
    page.goto(f"{asgi_server.url}/review/sessions/{demo_attempt.pk}/")
    state_purpose_with_keyboard(page)
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1", timeout=15_000)
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()

    sign_in_with_keyboard(page, asgi_server.url, "student2", "invigil-demo")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My data").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="My data", level=1)).to_be_visible()
    expect(page.get_by_text("Held, encrypted. Made when you enrolled")).to_be_visible()
    card = page.locator("article", has_text=demo_attempt.exam.title)
    purge_at = demo_attempt.exam.closes_at + timedelta(
        days=demo_attempt.exam.course.institution.recording_retention_days
    )
    expect(card).to_contain_text(f"Deleted on {day_text(purge_at)}")
    expect(card).to_contain_text("Webcam")
    accesses = page.locator("table", has_text="Who")
    expect(accesses).to_contain_text("Iris Instructor")
    expect(accesses).to_contain_text("Played your recordings")
    screenshot(page, "my-data")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download a copy (zip)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("invigil-my-data-student2-")
    archive = zipfile.ZipFile(download.path())
    document = json.loads(archive.read("data.json"))
    session = next(s for s in document["sessions"] if s["id"] == str(demo_attempt.pk))
    files = [r["file"] for r in session["recordings"]]

    def recorded_bytes() -> list[int]:
        return [
            sum(Recording.objects.get(pk=r.pk).chunks.values_list("size", flat=True))
            for r in Recording.objects.filter(session_id=demo_attempt.pk).order_by("kind", "part")
        ]

    assert [len(archive.read(name)) for name in files] == off_the_main_thread(recorded_bytes)
    assert all(archive.read(name).startswith(b"\x1a\x45\xdf\xa3") for name in files)

    page.get_by_role("link", name="Delete my identity profile").click()
    expect(page.get_by_role("heading", name="Delete my identity profile")).to_be_visible()
    page.get_by_role("button", name="Delete my identity profile").click()  # not ticked: the browser asks
    expect(page).to_have_url(f"{asgi_server.url}/my-data/identity-profile/delete/")
    page.get_by_label("I understand that my identity profile will be deleted").focus()
    page.keyboard.press("Space")
    screenshot(page, "my-data-delete")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete my identity profile").click()
    expect(page.get_by_text("Your identity profile is deleted")).to_be_visible()
    expect(page.get_by_text("Invigil holds no identity profile for you")).to_be_visible()
    screenshot(page, "my-data-deleted")

    def gone() -> tuple[bool, bool]:
        return (
            IdentityProfile.objects.filter(user__username="student2").exists(),
            AuditEvent.objects.filter(action="identity.profile_delete").exists(),
        )

    assert off_the_main_thread(gone) == (False, True)

    # The privacy officer asks who touched Noor's data: the instructor's playback, with its purpose,
    # and Noor's own deletion.
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    sign_in_with_keyboard(page, asgi_server.url, "admin", "invigil-demo")
    page.goto(f"{asgi_server.url}/admin/")
    page.get_by_role("link", name="Who accessed a person's data").click()
    page.get_by_label("Person (username or user id)").fill("student2")
    with page.expect_navigation():
        page.get_by_label("Person (username or user id)").press("Enter")
    report = page.locator("#result_list")
    expect(report).to_contain_text("recording.play")
    expect(report).to_contain_text("case AI-2026-0142")
    expect(report).to_contain_text("identity.profile_delete")
    screenshot(page, "admin-access-report")
