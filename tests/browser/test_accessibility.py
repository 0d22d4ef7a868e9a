"""In a real browser: every page, for each role that sees it, passes axe-core's WCAG 2.1 A and AA checks.
Each test visits its role's pages in turn and fails at the end, naming every violation on every page."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from exams.models import Exam, ExamSession
from identity.models import User
from tests.browser.axe import axe_violations, violations_described
from tests.browser.conftest import off_the_main_thread, state_purpose_with_keyboard
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Pages:
    """Visits pages and keeps what axe found on each, so one bad page does not hide the others."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.found: dict[str, list[dict[str, Any]]] = {}

    def check(self, name: str, path: str | None = None) -> None:
        if path is not None:
            self.page.goto(f"{self.base}{path}")
        self.page.wait_for_load_state("load")
        screenshot(self.page, f"a11y-{name}")
        violations = axe_violations(self.page)
        if violations:
            self.found[f"{name} ({self.page.url})"] = violations

    def assert_none_found(self) -> None:
        assert not self.found, "\n".join(
            f"{name}:\n{violations_described(violations)}" for name, violations in self.found.items()
        )


def ids(demo_attempt: ExamSession) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        exam = Exam.objects.get(title="Midterm: mechanics")
        return {"exam": exam.pk, "course": exam.course_id, "attempt_exam": demo_attempt.exam_id}

    return off_the_main_thread(read)


def test_the_sign_in_and_student_pages_pass_axe(page: Any, live_server: Any, demo_attempt: ExamSession) -> None:
    pages = Pages(page, live_server.url)
    known = ids(demo_attempt)
    pages.check("sign-in", reverse("login"))
    pages.check("password-reset", reverse("password_reset"))
    sign_in_with_keyboard(page, live_server.url, "student1", "invigil-demo")
    pages.check("student-home")
    pages.check("student-exam", reverse("exam_detail", args=[known["exam"]]))
    pages.check("lobby", reverse("exam_lobby", args=[known["exam"]]))
    page.get_by_role("button", name="Continue: read the consent policy").click()
    expect(page.get_by_role("button", name="Agree and continue")).to_be_visible()
    pages.check("consent")
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to agree")
    pages.check("consent-refused")
    page.get_by_label("I have read the policy above").check()
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_role("heading", name="System check")).to_be_visible()
    pages.check("system-check")
    pages.check("student-my-data", reverse("my_data"))
    pages.check("password-change", reverse("password_change"))
    pages.check("refused", reverse("review_dashboard", args=[known["course"]]))
    page.context.clear_cookies()
    sign_in_with_keyboard(page, live_server.url, "student2", "invigil-demo")
    pages.check("student-my-data-recorded", reverse("my_data"))
    pages.check("profile-delete", reverse("identity_profile_delete"))
    pages.check("not-found", "/no-such-page/")
    page.context.clear_cookies()
    sign_in_with_keyboard(page, live_server.url, "student3", "invigil-demo")
    page.goto(f"{live_server.url}{reverse('exam_lobby', args=[known['exam']])}")
    page.get_by_role("button", name="Continue: read the consent policy").click()
    page.get_by_role("button", name="Decline and ask for an alternative").click()
    expect(page.get_by_role("heading", name="You declined recording")).to_be_visible()
    pages.check("declined")
    pages.assert_none_found()


def test_the_staff_pages_pass_axe(page: Any, live_server: Any, demo_attempt: ExamSession) -> None:
    pages = Pages(page, live_server.url)
    known = ids(demo_attempt)
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    pages.check("staff-home")
    pages.check("course", reverse("course_detail", args=[known["course"]]))
    pages.check("staff-exam", reverse("exam_detail", args=[known["attempt_exam"]]))
    pages.check("session", reverse("session_detail", args=[demo_attempt.pk]))
    pages.check("review-dashboard", reverse("review_dashboard", args=[known["course"]]))
    pages.check("identity-checks", reverse("review_identity_checks"))
    page.goto(f"{live_server.url}{reverse('review_session', args=[demo_attempt.pk])}")
    pages.check("purpose")
    state_purpose_with_keyboard(page)
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1")
    pages.check("review-session")
    pages.assert_none_found()


def test_the_administration_passes_axe(page: Any, live_server: Any, transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    exam = Exam.objects.get(title="Midterm: mechanics")
    pages = Pages(page, live_server.url)
    sign_in_with_keyboard(page, live_server.url, "admin", "invigil-demo")
    pages.check("admin-index", reverse("admin:index"))
    pages.check("admin-changelist", reverse("admin:exams_exam_changelist"))
    pages.check("admin-change-form", reverse("admin:exams_exam_change", args=[exam.pk]))
    # Where Django's own widgets needed mending (static/invigil/admin.js): a tabular inline with
    # autocomplete fields, an empty autocomplete, the filter boxes, a filter with an empty value.
    pages.check("admin-course", reverse("admin:exams_course_change", args=[exam.course_id]))
    pages.check("admin-policy-add", reverse("admin:exams_consentpolicy_add"))
    pages.check("admin-user", reverse("admin:identity_user_change", args=[User.objects.get(username="student1").pk]))
    pages.check("admin-audit-log", reverse("admin:proctor_auditevent_changelist"))
    pages.check("admin-access-report", reverse("admin:proctor_auditevent_access") + "?person=student1")
    pages.check("data-inventory", reverse("data_inventory"))
    pages.assert_none_found()
