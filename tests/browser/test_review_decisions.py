"""End to end in real headless Chromium: an instructor opens the flagged attempt from the demo data,
plays to a flag, dismisses it with a note, decides the other flags, and finalises the session with no
concern; refused verdicts and decisions keep what the reviewer typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from exams.models import ExamSession, SessionStatus
from proctor.models import AuditEvent
from review.demo.attempt import EXAM_TITLE
from review.models import FlagDecision, SessionDecision
from tests.browser.conftest import off_the_main_thread, state_purpose_with_keyboard
from tests.browser.test_sign_in import sign_in_with_keyboard
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


#: Seconds between where the webcam and the screen players are, on the attempt's clock.
SESSION_TIMES_APART = """(() => {
  const parts = JSON.parse(document.getElementById("review-parts").textContent);
  const webcam = document.getElementById("webcam-player"), screen = document.getElementById("screen-player");
  return Math.abs(parts.screen[0].offset + screen.currentTime - (parts.webcam[0].offset + webcam.currentTime));
})()"""


def test_an_instructor_plays_to_a_flag_dismisses_it_with_a_note_and_finalises(
    page: Any, asgi_server: Any, demo_attempt: ExamSession
) -> None:
    assert demo_attempt.status == SessionStatus.READY_FOR_REVIEW
    sign_in_with_keyboard(page, asgi_server.url, "instructor", "invigil-demo")
    page.get_by_role("link", name="PHYS101 Introductory Physics").click()
    page.get_by_role("link", name="Review sessions").click()
    row = page.locator("#review-sessions tbody tr", has_text=EXAM_TITLE)
    expect(row).to_contain_text("Noor Student")
    expect(row).to_contain_text("Ready for review")
    screenshot(page, "review-dashboard-demo")
    row.get_by_role("link", name="Noor Student").click()
    state_purpose_with_keyboard(page, shot="review-purpose")

    expect(page.get_by_role("heading", name=f"Noor Student: {EXAM_TITLE}")).to_be_visible()
    expect(page.get_by_text("You opened this session for: case AI-2026-0142")).to_be_visible()
    page.wait_for_function("document.getElementById('webcam-player').readyState >= 1", timeout=15_000)
    page.wait_for_function("document.getElementById('screen-player').readyState >= 1", timeout=15_000)
    flags = page.locator(".flag")
    concerns = page.locator(".flag--concern")
    assert concerns.count() >= 3
    expect(page.locator("#undecided-flags")).to_contain_text(f"Flags still without a verdict: {concerns.count()}")

    # Play to the second-face flag and watch both players arrive there together.
    second_face = flags.filter(has_text="More than one face")
    second_face.get_by_role("button", name="Play from here").click()
    start = float(second_face.get_attribute("data-start") or 0)
    page.wait_for_function(
        f"Math.abs(document.getElementById('webcam-player').currentTime - {start}) < 1.5", timeout=15_000
    )
    page.evaluate("document.getElementById('webcam-player').play()")
    page.wait_for_function(f"document.getElementById('webcam-player').currentTime > {start} + 1", timeout=15_000)
    apart = page.evaluate(SESSION_TIMES_APART)
    assert apart < 1.0  # the screen plays in step with the webcam, on the attempt's clock
    screenshot(page, "review-session-playing")

    # Dismiss it with a note; the players keep playing (no page load).
    second_face.get_by_label("Your note on this flag").fill(
        "A family member walked behind; the student did not engage."
    )
    second_face.get_by_role("button", name="Dismiss").click()
    # Dated the way every page dates things, with the day and the time zone.
    expect(second_face.locator("[data-verdict]")).to_contain_text(
        re.compile(
            r"Dismissed by Iris Instructor, \w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC: A family member walked behind"
        )
    )
    assert page.evaluate("!document.getElementById('webcam-player').paused")

    # Every other possible-concern flag gets a verdict too, by keyboard.
    for index in range(concerns.count()):
        flag = concerns.nth(index)
        if flag.locator("[data-verdict] .badge", has_text="Dismissed").count():
            continue
        flag.get_by_label("Your note on this flag").focus()
        page.keyboard.type("Seen in the recording; nothing improper.")
        page.keyboard.press("Tab")  # to Confirm
        page.keyboard.press("Tab")  # to Dismiss
        page.keyboard.press("Enter")
        expect(flag.locator("[data-verdict]")).to_contain_text("Dismissed by Iris Instructor")
    expect(page.locator("#undecided-flags")).to_have_text(
        "Every possible-concern flag has a verdict: you can record your decision below."
    )

    # Finalise: no concern, with reasons, signed.
    page.evaluate("document.getElementById('webcam-player').pause()")
    page.get_by_label("No concern").check()
    page.get_by_label("Reasons (required)").fill("Each flag is explained by the recording; no concern.")
    expect(page.get_by_text("Signed: Iris Instructor")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Recorded: no concern. The outcome is final unless the student appeals.")).to_be_visible()
    expect(page.locator(".summary-list")).to_contain_text("No concern")
    expect(page.get_by_text("The outcome is final: no concern.")).to_be_visible()
    screenshot(page, "review-session-decided")

    def recorded() -> tuple[str, int, list[str], int]:
        session = ExamSession.objects.get(pk=demo_attempt.pk)
        return (
            session.status,
            FlagDecision.objects.filter(flag__session=session, verdict="dismissed").count(),
            list(SessionDecision.objects.filter(session=session).values_list("outcome", flat=True)),
            AuditEvent.objects.filter(action__in=["flag.decide", "session.decide"], target_id=str(session.pk)).count(),
        )

    status, dismissed, outcomes, audited = off_the_main_thread(recorded)
    assert (status, outcomes) == (SessionStatus.CLEARED, ["no_concern"])
    assert dismissed == concerns.count()
    assert audited == dismissed + 1


def test_a_refused_decision_keeps_what_the_reviewer_typed(
    page: Any, asgi_server: Any, demo_attempt: ExamSession
) -> None:
    sign_in_with_keyboard(page, asgi_server.url, "reviewer", "invigil-demo")
    page.goto(f"{asgi_server.url}/review/sessions/{demo_attempt.pk}/")
    state_purpose_with_keyboard(page)
    page.get_by_label("Concern referred for a second review").check()
    page.get_by_label("Reasons (required)").fill("Two faces at once.")
    with page.expect_navigation():
        page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("alert").filter(has_text="The decision was not recorded")).to_contain_text(
        re.compile(r"Decide every flag first: \d flags have no verdict yet")
    )
    expect(page.get_by_label("Reasons (required)")).to_have_value("Two faces at once.")
    expect(page.get_by_label("Concern referred for a second review")).to_be_checked()
    expect(page.locator("#decision-error")).to_be_focused()
    screenshot(page, "review-decision-refused")
