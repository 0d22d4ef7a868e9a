"""In a real browser: an instructor imports a class list with mistakes, reads every bad line, imports the
corrected file, appoints a reviewer, removes a student and grants an accommodation whose reason the
student never sees; each page passes axe (WCAG 2.1 A and AA)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from exams.models import Accommodation, CourseMembership
from tests.browser.axe import assert_accessible
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Disability office letter DS-2291."


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    UserFactory(username="lin", first_name="Lin", last_name="Newcomer", email="lin@demo.invalid")
    UserFactory(username="omar", first_name="Omar", last_name="Newcomer")
    UserFactory(username="tess", first_name="Tess", last_name="Assistant")


def csv_file(text: str) -> dict[str, Any]:
    return {"name": "class-list.csv", "mimeType": "text/csv", "buffer": text.encode()}


def roles() -> dict[str, str]:
    return dict(CourseMembership.objects.values_list("user__username", "role"))


def test_an_instructor_corrects_a_class_list_and_sets_an_accommodation(page: Any, live_server: Any, demo: None) -> None:
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101 Introductory Physics").click()
    page.get_by_role("link", name="Manage the class list").click()
    expect(page.get_by_role("heading", name=re.compile("Class list of PHYS101"))).to_be_visible()
    assert_accessible(page, "class list")

    # A file with mistakes: every bad line is listed, and no one is added.
    page.get_by_label("Class list (CSV)").set_input_files(
        csv_file("username\nlin@demo.invalid\nnobody\nreviewer\nomar\nlin\n")
    )
    page.get_by_role("button", name="Import", exact=True).click()
    problems = page.get_by_role("table", name="Lines to correct in the file")
    expect(problems).to_be_visible()
    rows = problems.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("3")
    expect(rows.nth(0)).to_contain_text("No account has the username or email 'nobody'")
    expect(rows.nth(1)).to_contain_text("already has a role in this course (reviewer)")
    expect(rows.nth(2)).to_contain_text("listed on line 2 already")
    expect(page.get_by_text("3 line(s) of the file need correcting; no student was added.")).to_be_visible()
    screenshot(page, "class-list-import-refused")
    assert_accessible(page, "class list with a refused import")
    assert not {"lin", "omar"} & set(roles())

    # The corrected file imports at once.
    page.get_by_label("Class list (CSV)").set_input_files(csv_file("username\nlin@demo.invalid\nomar\nstudent1\n"))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("2 student(s) added to the class list. 1 were on it already.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Lin Newcomer"))).to_be_visible()
    assert roles()["lin"] == roles()["omar"] == "student"

    page.get_by_label("Reviewer's username or email").fill("tess")
    page.get_by_role("button", name="Appoint as reviewer").click()
    expect(page.get_by_text("Tess Assistant is a reviewer of PHYS101.")).to_be_visible()
    page.get_by_role("button", name="Remove Omar Newcomer").click()
    expect(page.get_by_text("Omar Newcomer is off the class list.")).to_be_visible()
    assert roles()["tess"] == "reviewer"
    assert "omar" not in roles()
    screenshot(page, "class-list-imported")
    assert_accessible(page, "class list after the import")

    # An accommodation, from a picker of the course's students.
    page.get_by_role("link", name="Accommodations for Midterm: mechanics").click()
    picker = page.get_by_label("Student", exact=True)
    # The course's students only: neither its reviewers nor its instructors.
    assert (picker.locator("option").count(), "Tess" in picker.inner_text()) == (4, False)
    picker.select_option(label="Kai Student (student3)")
    page.get_by_role("button", name="Continue").click()
    assert_accessible(page, "accommodation form")
    page.get_by_label("Extra minutes").fill("15")
    page.get_by_label("Time multiplier").fill("1.5")
    page.get_by_role("button", name="Save the accommodation").click()
    expect(page.get_by_role("alert")).to_contain_text("Give extra time as minutes or as a multiplier, not both.")
    screenshot(page, "accommodation-refused")
    assert_accessible(page, "refused accommodation form")
    page.get_by_label("Time multiplier").fill("")
    page.get_by_label("Reason (staff only)").fill(REASON)
    page.get_by_role("button", name="Save the accommodation").click()
    expect(page.get_by_role("row", name=re.compile("Kai Student"))).to_contain_text(REASON)
    screenshot(page, "accommodations")
    assert_accessible(page, "accommodations")
    assert Accommodation.objects.get(student__username="student3").extra_minutes == 15

    # The student sees the accommodation, never the reason.
    page.context.clear_cookies()
    sign_in_with_keyboard(page, live_server.url, "student3", "invigil-demo")
    page.get_by_role("link", name="Midterm: mechanics").click()
    expect(page.get_by_text("15 minutes extra time")).to_be_visible()
    assert "DS-2291" not in page.content()
