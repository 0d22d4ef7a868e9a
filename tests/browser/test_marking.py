"""In a real browser: an instructor opens a submitted session's answers from the exam's sessions, reads
what was marked automatically, marks the short answer with the keyboard and sees the total; the page
passes axe (WCAG 2.1 A and AA) before and after."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from exams.models import Mark
from tests.browser.axe import assert_accessible
from tests.browser.conftest import off_the_main_thread
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import World, screenshot
from tests.exams.marked_exam import MarkedExam, exam_with_every_kind, submitted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marked(world: World) -> MarkedExam:
    exam = exam_with_every_kind(world)
    off_the_main_thread(
        lambda: submitted(world, exam, single=exam.right, ticked="AC", number="9.8", text="Gravity pulls it down.")
    )
    return exam


def test_an_instructor_marks_a_short_answer_with_the_keyboard_and_sees_the_total(
    page: Any, live_server: Any, world: World, marked: MarkedExam
) -> None:
    student = world.users["student"].get_full_name()
    sign_in_with_keyboard(page, live_server.url, "instructor", "correct-horse-battery")
    page.goto(f"{live_server.url}/exams/{world.exam.pk}/")
    page.get_by_role("link", name=f"Answers and marks of {student}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Answers and marks: {student}"))).to_be_visible()
    expect(page.locator("#marks-total")).to_have_text("7 of 11 points")
    expect(page.locator("#marks-state")).to_have_text("1 short answer waits for a person")
    expect(page.get_by_text("Gravity pulls it down.")).to_be_visible()
    assert_accessible(page, "answers and marks, a short answer waiting")
    screenshot(page, "marks-waiting")

    page.get_by_label("Mark for question 4 (0 to 4 points)").focus()
    page.keyboard.type("5")
    page.keyboard.press("Tab")
    page.keyboard.type("Names the force, not the law.")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("This question is worth 4 points at most; 5 is more.")
    expect(page.get_by_label("Mark for question 4 (0 to 4 points)")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "answers and marks, a mark refused")
    screenshot(page, "marks-refused")
    assert not off_the_main_thread(lambda: Mark.objects.filter(question=marked.short).exists())

    page.get_by_label("Mark for question 4 (0 to 4 points)").focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text("The mark is saved.")).to_be_visible()
    expect(page.locator("#marks-total")).to_have_text("10 of 11 points")
    expect(page.locator("#marks-state")).to_have_text("Complete")
    expect(page.locator("#question-" + str(marked.short.pk))).to_contain_text(
        f"3 of 4, marked by {world.users['instructor'].get_full_name()}"
    )
    # The comment typed with the refused mark was kept, and saved with the mark.
    expect(page.get_by_role("definition").filter(has_text="Names the force, not the law.")).to_be_visible()
    assert_accessible(page, "answers and marks, all marked")
    screenshot(page, "marks-complete")
