"""In a real browser: a student of an exam that requires Safe Exam Browser is turned away from plain
Chromium with the page that explains what to do, and let in when every request carries SEB's headers
computed for its own URL, or when SEB's JavaScript API gives the page its keys."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from exams.models import Exam
from lockdown.config_key import request_hash
from lockdown.models import SafeExamBrowserRequirement
from proctor.models import AuditEvent
from tests.browser.axe import axe_violations, violations_described
from tests.browser.test_consent import to_consent_page
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot
from tests.lockdown.conftest import FIXTURES, MAC_FILE, MAC_KEY, WIN_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: SEB's JavaScript API as SEB 3.0 for macOS has it: the keys are set when the page asks for them.
SEB_JAVASCRIPT_API = """
window.SafeExamBrowser = { version: "SEB_macOS_3.0_test", security: {
  updateKeys(callback) {
    const url = window.location.href.split("#")[0];
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(url + "%s")).then((digest) => {
      this.configKey = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      this.browserExamKey = "";
      callback();
    });
  },
} };
"""


@pytest.fixture
def seb_demo(transactional_db: None) -> Exam:
    call_command("seed_demo", stdout=io.StringIO())
    exam = Exam.objects.get(title="Midterm: mechanics")
    SafeExamBrowserRequirement.objects.create(
        exam=exam, required=True, config_file=MAC_FILE, config_file_name="midterm.seb", config_key=MAC_KEY
    )
    return exam


def sign_as_seb(route: Any) -> None:
    """What SEB's classic web view does: every request carries the Config Key hashed with its own URL."""
    headers = {**route.request.headers, "x-safeexambrowser-configkeyhash": request_hash(route.request.url, MAC_KEY)}
    route.continue_(headers=headers)


def test_plain_chromium_is_turned_away_and_seb_headers_let_the_student_in(
    page: Any, live_server: Any, seb_demo: Exam
) -> None:
    sign_in_with_keyboard(page, live_server.url, "student1", "invigil-demo")
    page.get_by_role("link", name="Midterm: mechanics").click()
    page.get_by_role("link", name="Before you start: what is recorded").click()
    page.get_by_role("button", name="Continue: read the consent policy").click()
    expect(page.get_by_role("heading", name="Open this exam in Safe Exam Browser")).to_be_visible()
    expect(page.get_by_role("link", name="Download this exam's configuration file")).to_be_visible()
    screenshot(page, "safe-exam-browser-required")
    assert not axe_violations(page), violations_described(axe_violations(page))
    assert AuditEvent.objects.filter(action="lockdown.refused").count() == 1

    page.route("**/*", sign_as_seb)
    page.reload()
    expect(page.get_by_role("heading", name="Remote exam recording version 1")).to_be_visible()


def test_the_javascript_api_lets_the_student_in_when_seb_sends_no_headers(
    page: Any, live_server: Any, seb_demo: Exam
) -> None:
    page.add_init_script(SEB_JAVASCRIPT_API % MAC_KEY)
    to_consent_page(page, live_server.url, "student1")
    assert AuditEvent.objects.filter(action="lockdown.verified").count() == 1


def test_javascript_keys_of_another_configuration_are_refused(page: Any, live_server: Any, seb_demo: Exam) -> None:
    page.add_init_script(SEB_JAVASCRIPT_API % ("0" * 64))
    sign_in_with_keyboard(page, live_server.url, "student1", "invigil-demo")
    page.get_by_role("link", name="Midterm: mechanics").click()
    page.get_by_role("link", name="Before you start: what is recorded").click()
    page.get_by_role("button", name="Continue: read the consent policy").click()
    expect(page.get_by_role("status")).to_contain_text("do not match this exam's configuration")
    assert not AuditEvent.objects.filter(action="lockdown.verified").exists()


def test_the_instructor_uploads_the_exams_file_and_sees_its_config_key(
    page: Any, live_server: Any, seb_demo: Exam
) -> None:
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    page.goto(f"{live_server.url}/exams/{seb_demo.pk}/setup/")
    page.get_by_role("link", name="Safe Exam Browser settings").click()
    expect(page.locator("#seb-config-key")).to_have_text(MAC_KEY)
    page.get_by_label("The exam's configuration file (.seb)").set_input_files(str(FIXTURES / "unencrypted_win_223.seb"))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#seb-config-key")).to_have_text(WIN_KEY)
    page.get_by_label("Accepted Browser Exam Keys").fill("not a key")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was changed")
    expect(page.get_by_text("A Browser Exam Key is 64 hexadecimal characters")).to_be_visible()
    screenshot(page, "safe-exam-browser-settings")
    assert not axe_violations(page), violations_described(axe_violations(page))
    assert SafeExamBrowserRequirement.objects.get(exam=seb_demo).browser_exam_keys == []
