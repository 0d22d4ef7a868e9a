"""Session statuses and their groups (exams/lifecycle.py) for every template and, through the base
template's json_script, for the browser's scripts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from exams.lifecycle import GROUPS, groups_for_browser

_FOR_BROWSER = groups_for_browser()


def session_statuses(request: HttpRequest) -> dict[str, Any]:
    """``statuses.TO_REVIEW`` and the like in templates; ``session_statuses`` for json_script."""
    return {"statuses": GROUPS, "session_statuses": _FOR_BROWSER}
