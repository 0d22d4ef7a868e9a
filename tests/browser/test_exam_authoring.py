"""In a real browser: an instructor sets up an exam from the course page, with one question of each
kind and its options on the question's own page, publishes it, and a student then sees it. Every page
of the workspace passes axe (WCAG 2.1 A and AA)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from exams.models import Exam, QuestionKind
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())


def accessible(page: Any) -> None:
    """The page as it stands has no axe violation of WCAG 2.1 A or AA."""
    results = Axe().run(page, options=WCAG_A_AA)
    assert results.violations_count == 0, results.generate_report()


def local_minute(minutes_from_now: int) -> str:
    return timezone.localtime(timezone.now() + timedelta(minutes=minutes_from_now)).strftime("%Y-%m-%dT%H:%M")


def add_question(page: Any, kind: str, prompt: str, *, options: list[tuple[str, bool]] = (), **numbers: str) -> None:
    page.get_by_role("link", name="Add a question").click()
    expect(page.get_by_role("heading", name="New question of Quiz: kinematics")).to_be_visible()
    page.get_by_label(kind, exact=True).check()
    page.get_by_label("Question", exact=True).fill(prompt)
    page.get_by_label("Points").fill("2")
    for number, (text, correct) in enumerate(options, start=1):
        page.get_by_label(f"Option {number}", exact=True).fill(text)
        if correct:
            page.get_by_label(f"Option {number} is correct").check()
    for label, value in numbers.items():
        page.get_by_label(label.replace("_", " ").capitalize(), exact=True).fill(value)
    if numbers:
        page.keyboard.press("Enter")  # Enter in a field saves the question (it does not add option rows)
    else:
        page.get_by_role("button", name="Save the question").click()
    expect(page.get_by_text("is saved.")).to_be_visible()


def test_an_instructor_sets_up_and_publishes_an_exam_and_a_student_sees_it(
    page: Any, chromium: Any, live_server: Any, demo: None
) -> None:
    sign_in_with_keyboard(page, live_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101").first.click()
    page.get_by_role("link", name="Set up a new exam").click()
    expect(page.get_by_role("heading", name="New exam in PHYS101")).to_be_visible()
    accessible(page)
    screenshot(page, "authoring-new-exam")

    page.get_by_label("Title").fill("Quiz: kinematics")
    page.get_by_label("Instructions").fill("Show your working on paper; type the final answers.")
    page.get_by_label("Opening time").fill(local_minute(-10))
    page.get_by_label("Closing time").fill(local_minute(-20))  # before it opens: refused below
    page.get_by_label("Duration in minutes").fill("30")
    page.get_by_label("The alternative arrangement").fill("An oral exam by video call, not recorded.")
    page.get_by_label("Whom they contact").fill("Iris Instructor, instructor@demo.invalid")
    page.get_by_label("Notes and books on paper").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Create the draft exam").click()
    expect(page.get_by_role("alert")).to_contain_text("The exam must close after it opens.")
    accessible(page)
    screenshot(page, "authoring-new-exam-refused")
    assert not Exam.objects.filter(title="Quiz: kinematics").exists()

    page.get_by_label("Closing time").fill(local_minute(180))
    page.get_by_role("button", name="Create the draft exam").press("Enter")
    expect(page.get_by_role("heading", name="Set up Quiz: kinematics")).to_be_visible()
    expect(page.locator("#missing")).to_contain_text("It has no questions")

    add_question(page, "Single choice (one answer)", "Units of acceleration?", options=[("m/s²", True), ("m/s", False)])
    page.get_by_role("link", name="Add a question").click()
    page.get_by_role("button", name="Save the question").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose the kind of question")
    expect(page.get_by_role("alert")).to_contain_text("Write the question: students answer what it says.")
    accessible(page)
    screenshot(page, "authoring-question-refused")
    page.get_by_role("button", name="More option rows").click()  # six rows now, nothing saved
    expect(page.get_by_label("Option 6", exact=True)).to_be_visible()
    accessible(page)
    screenshot(page, "authoring-question")
    page.get_by_role("link", name="Cancel").click()
    add_question(
        page,
        "Multiple choice (all that apply)",
        "Which are vectors?",
        options=[("Velocity", True), ("Speed", False), ("Force", True)],
    )
    add_question(page, "Short answer", "Explain why a falling feather is slower than a stone.")
    add_question(page, "Numeric", "g in m/s², to one decimal?", right_answer="9.8", tolerance="0.05")

    expect(page.locator("#missing")).to_have_count(0)
    expect(page.get_by_text("The exam is complete")).to_be_visible()
    accessible(page)
    screenshot(page, "authoring-setup")
    page.get_by_role("button", name="Publish the exam").click()
    expect(page.get_by_text("The exam is published")).to_be_visible()

    exam = Exam.objects.get(title="Quiz: kinematics")
    assert exam.published
    assert exam.allowed_materials == ["paper_notes"]
    assert [q.kind for q in exam.questions.all()] == [
        QuestionKind.SINGLE_CHOICE,
        QuestionKind.MULTIPLE_CHOICE,
        QuestionKind.SHORT_ANSWER,
        QuestionKind.NUMERIC,
    ]
    assert list(exam.questions.get(kind=QuestionKind.MULTIPLE_CHOICE).choices.values_list("text", "is_correct")) == [
        ("Velocity", True),
        ("Speed", False),
        ("Force", True),
    ]

    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        student = context.new_page()
        sign_in_with_keyboard(student, live_server.url, "student1", "invigil-demo")
        row = student.get_by_role("row", name="Quiz: kinematics")
        expect(row).to_be_visible()
        row.get_by_role("link", name="Quiz: kinematics").click()
        expect(student.get_by_role("heading", name="Quiz: kinematics")).to_be_visible()
        expect(student.get_by_text("Show your working on paper")).to_be_visible()
        expect(student.get_by_text("Notes and books on paper")).to_be_visible()  # what they may use
        screenshot(student, "authoring-student-sees-the-exam")
    finally:
        context.close()
