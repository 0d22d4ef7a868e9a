"""In a real browser: a moment written by script (static/invigil/moments.js) reads exactly as the
server writes it (proctor/moments.py), in the zone the server renders pages in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from proctor.moments import moment_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INSTANTS = [
    datetime(2026, 1, 5, 8, 3, 9, tzinfo=UTC),  # winter time
    datetime(2026, 9, 30, 23, 30, 5, tzinfo=UTC),  # summer time, and past midnight there; September
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),  # the next year there
]


def test_the_browser_writes_a_moment_as_the_server_does(page: Any, live_server: Any, settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    page.goto(f"{live_server.url}/accounts/login/")
    written = page.evaluate(
        """async (instants) => {
          const { momentText } = await import("/static/invigil/moments.js");
          return instants.map((at) => [momentText(at), momentText(at, { seconds: true })]);
        }""",
        [instant.isoformat() for instant in INSTANTS],
    )
    with timezone.override("Europe/Berlin"):
        expected = [[moment_text(instant), moment_text(instant, seconds=True)] for instant in INSTANTS]
    assert written == expected
    assert expected[1][0] == "Thu 1 Oct 2026, 01:30 CEST"
