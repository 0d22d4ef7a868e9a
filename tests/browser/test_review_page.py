"""In a real browser: on the session review page the players stay in view while the reviewer moves
down the flags, and the timeline's marks are buttons that move the players, by mouse and keyboard."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from exams.models import ExamBreak, ExamSession
from tests.browser.axe import assert_accessible
from tests.browser.conftest import off_the_main_thread, state_purpose_with_keyboard
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IN_VIEW = """(id) => {
  const box = document.getElementById(id).getBoundingClientRect();
  return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}"""


def webcam_arrives_at(page: Any, seconds: float) -> None:
    page.wait_for_function(
        f"Math.abs(document.getElementById('webcam-player').currentTime - {seconds}) < 1.5", timeout=15_000
    )


def test_the_players_stay_in_view_and_the_timeline_marks_seek_by_mouse_and_keyboard(
    page: Any, live_server: Any, demo_attempt: ExamSession
) -> None:
    sign_in_with_keyboard(page, live_server.url, "reviewer", "invigil-demo")
    page.goto(f"{live_server.url}/review/sessions/{demo_attempt.pk}/")
    state_purpose_with_keyboard(page)
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1", timeout=15_000)
    flags = page.locator(".flag")
    starts = [float(start) for start in flags.evaluate_all("(all) => all.map((flag) => flag.dataset.start)")]
    assert len(starts) >= 3

    # The marks are buttons named for what and when, one per flag, in the flags' order.
    marks = page.get_by_role("group", name=re.compile(r"^Flags along the recording, 0:00 to \d+:\d\d$")).get_by_role(
        "button"
    )
    expect(marks).to_have_count(len(starts))
    first_kind = flags.nth(0).locator(".flag__title").evaluate("(title) => title.firstChild.textContent.trim()")
    minutes, seconds = divmod(round(starts[0]), 60)
    expect(marks.nth(0)).to_have_accessible_name(re.compile(rf"^{re.escape(first_kind)} at {minutes}:{seconds:02d}, "))

    # Keyboard: Tab reaches a mark; Enter and Space move the players to its flag; focus stays on the timeline.
    marks.nth(1).focus()
    page.keyboard.press("Enter")
    webcam_arrives_at(page, starts[1])
    expect(marks.nth(1)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(marks.nth(0)).to_be_focused()
    page.keyboard.press("Space")
    webcam_arrives_at(page, starts[0])
    # Mouse.
    marks.nth(2).click()
    webcam_arrives_at(page, starts[2])
    expect(flags.nth(2)).to_be_in_viewport()

    # Down to the last flag, as a reviewer reading them would: the page scrolls, the players do not.
    last = flags.nth(len(starts) - 1)
    last.get_by_role("button", name="Play from here").focus()
    page.keyboard.press("Enter")
    webcam_arrives_at(page, starts[-1])
    assert page.evaluate("window.scrollY") > 200
    assert page.evaluate(IN_VIEW, "webcam-player")
    assert page.evaluate(IN_VIEW, "screen-player")
    expect(last.get_by_role("button", name="Play from here")).to_be_in_viewport()
    # Reading the last flag from its top, the players still stay beside it.
    last.evaluate("(flag) => flag.scrollIntoView({ block: 'start' })")
    assert page.evaluate(IN_VIEW, "webcam-player")
    assert page.evaluate(IN_VIEW, "screen-player")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "review-session-last-flag-viewport.png"))
    screenshot(page, "review-session-timeline")


def test_a_break_is_a_hatched_stretch_of_the_timeline_and_plays_from_its_start(
    page: Any, live_server: Any, demo_attempt: ExamSession
) -> None:
    began = demo_attempt.started_at
    assert began is not None

    def take_a_break() -> None:
        ExamBreak.objects.create(
            session=demo_attempt,
            started_at=began + timedelta(seconds=30),
            ended_at=began + timedelta(seconds=50),
            allowed_seconds=600,
            deadline_before=began + timedelta(hours=1),
        )

    off_the_main_thread(take_a_break)
    sign_in_with_keyboard(page, live_server.url, "reviewer", "invigil-demo")
    page.goto(f"{live_server.url}/review/sessions/{demo_attempt.pk}/")
    state_purpose_with_keyboard(page)
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1", timeout=15_000)
    expect(page.get_by_text(re.compile(r"^Flags and breaks \(hatched\) along the recording"))).to_be_visible()
    band = page.locator(".timeline__break")
    expect(band).to_have_count(1)
    box = band.bounding_box()
    assert box is not None
    assert box["width"] > 4  # 20 s of a 91-s recording: a fifth of the bar, not a sliver
    breaks = page.get_by_role("region", name="Breaks (1)")
    expect(breaks).to_contain_text("From 0:30 to 0:50 (20 s).")
    breaks.get_by_role("button", name="Play from here").press("Enter")
    webcam_arrives_at(page, 30)
    assert_accessible(page, "the review page with a break")
    screenshot(page, "review-session-break")
