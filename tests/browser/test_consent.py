"""In a real browser: a student reads what will be recorded, and consents or declines, by keyboard; an
instructor answers the request for an alternative arrangement, and the student reads the answer."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from exams.models import AlternativeRequest, ConsentRecord, Exam
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())


def to_consent_page(page: Any, base: str, username: str) -> None:
    sign_in_with_keyboard(page, base, username, "invigil-demo")
    page.get_by_role("link", name="Midterm: mechanics").click()
    page.get_by_role("link", name="Before you start: what is recorded").click()
    expect(page.get_by_role("heading", name="Privacy notice of Demo University, version 1")).to_be_visible()
    for part in ("Who runs this exam", "Under what authority", "What is recorded", "How long it is kept"):
        expect(page.get_by_role("heading", name=part, exact=True)).to_be_visible()
    expect(page.get_by_text("privacy@demo.invalid")).to_be_visible()
    screenshot(page, "lobby")
    page.get_by_role("button", name="Continue: read the consent policy").click()
    expect(page.get_by_role("heading", name="Remote exam recording version 1")).to_be_visible()


def test_a_student_consents_with_the_keyboard(page: Any, live_server: Any, demo: None) -> None:
    to_consent_page(page, live_server.url, "student1")
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to agree")
    screenshot(page, "consent-error")
    page.get_by_label("I have read the policy above").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your consent to version 1 is recorded")).to_be_visible()
    assert ConsentRecord.objects.get().policy_version == 1


def test_a_student_declines_and_asks_for_an_alternative(page: Any, live_server: Any, demo: None) -> None:
    to_consent_page(page, live_server.url, "student2")
    screenshot(page, "consent")
    page.get_by_label("Anything your instructor should know").fill("I cannot use a webcam at home.")
    page.get_by_role("button", name="Decline and ask for an alternative").click()
    expect(page.get_by_role("heading", name="You declined recording")).to_be_visible()
    screenshot(page, "declined")
    assert AlternativeRequest.objects.get().reason == "I cannot use a webcam at home."


def test_the_instructor_answers_a_request_by_keyboard_and_the_student_reads_it(
    page: Any, chromium: Any, live_server: Any, demo: None
) -> None:
    to_consent_page(page, live_server.url, "student2")
    page.get_by_label("Anything your instructor should know").fill("I cannot use a webcam at home.")
    page.get_by_role("button", name="Decline and ask for an alternative").click()
    expect(page.get_by_role("heading", name="You declined recording")).to_be_visible()
    exam = Exam.objects.get(title="Midterm: mechanics")

    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        staff = context.new_page()
        sign_in_with_keyboard(staff, live_server.url, "instructor", "invigil-demo")
        staff.goto(f"{live_server.url}{reverse('exam_detail', args=[exam.pk])}")
        expect(staff.get_by_text("I cannot use a webcam at home.")).to_be_visible()
        staff.get_by_role("button", name="Send the answer").click()
        expect(staff.get_by_role("alert")).to_contain_text("Write your answer")
        staff.get_by_label("Your answer to Noor Student").focus()
        staff.keyboard.type("Sit it in room 2.14 on Friday at 10:00.")
        staff.keyboard.press("Tab")
        staff.keyboard.press("Enter")
        expect(staff.get_by_text("Your answer to Noor Student is saved")).to_be_visible()
        screenshot(staff, "alternative-answered")
    finally:
        context.close()

    page.goto(f"{live_server.url}{reverse('exam_lobby', args=[exam.pk])}")
    expect(page.get_by_text("Sit it in room 2.14 on Friday at 10:00.")).to_be_visible()
    screenshot(page, "alternative-answer-for-student")
    assert AlternativeRequest.objects.get().status == "answered"


def test_an_admin_sees_consent_and_decline_counts_per_exam(
    page: Any, chromium: Any, live_server: Any, demo: None
) -> None:
    to_consent_page(page, live_server.url, "student2")
    page.get_by_role("button", name="Decline and ask for an alternative").click()
    expect(page.get_by_role("heading", name="You declined recording")).to_be_visible()

    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        admin = context.new_page()
        sign_in_with_keyboard(admin, live_server.url, "admin", "invigil-demo")
        admin.goto(f"{live_server.url}{reverse('admin:exams_exam_changelist')}")
        headers = admin.locator("#result_list thead th")
        expect(headers.filter(has_text="Consented")).to_have_count(1)
        expect(headers.filter(has_text="Declined")).to_have_count(1)
        row = admin.locator("#result_list tbody tr", has_text="Midterm: mechanics")
        expect(row.locator("td.field-consented")).to_have_text("0")
        expect(row.locator("td.field-declined")).to_have_text("1")
        screenshot(admin, "admin-consent-counts")
    finally:
        context.close()


def test_an_instructor_publishes_a_draft_only_with_an_alternative_and_a_decliner_is_offered_it(
    page: Any, chromium: Any, live_server: Any, demo: None
) -> None:
    exam = Exam.objects.get(title="Midterm: mechanics")
    Exam.objects.filter(pk=exam.pk).update(published_at=None, alternative_arrangement="", alternative_contact="")
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    page.goto(f"{live_server.url}{reverse('exam_detail', args=[exam.pk])}")
    expect(page.get_by_text("Students do not see it yet")).to_be_visible()
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_role("alert")).to_contain_text("needs an alternative arrangement")
    screenshot(page, "publish-refused")
    assert Exam.objects.get(pk=exam.pk).published_at is None
    page.get_by_label("The alternative arrangement").fill("An oral exam by video call, not recorded, on 12 May.")
    page.get_by_label("Whom they contact").fill("Iris Instructor, instructor@demo.invalid")
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_text("The exam is published")).to_be_visible()
    screenshot(page, "published")

    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        student = context.new_page()
        to_consent_page(student, live_server.url, "student2")
        expect(student.get_by_text("An oral exam by video call, not recorded, on 12 May.")).to_be_visible()
        student.get_by_role("button", name="Decline and ask for an alternative").click()
        expect(student.get_by_role("heading", name="Your alternative")).to_be_visible()
        expect(student.locator("#alternative-offer")).to_have_text(
            "An oral exam by video call, not recorded, on 12 May."
        )
        expect(student.get_by_text("Iris Instructor, instructor@demo.invalid")).to_be_visible()
        screenshot(student, "declined-alternative-offered")
    finally:
        context.close()
