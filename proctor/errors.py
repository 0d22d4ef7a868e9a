"""Refusals: one exception hierarchy for every request Invigil turns down for a reason the person can act
on. Nothing was changed; the message says why, in plain words. proctor.refusals turns them into
responses in one place, so views and services never choose a status code themselves.

Plain Python, importing nothing, so that pure modules (identity.faces) can raise them too.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """Turned down; ``status_code`` is the HTTP answer and ``details`` what a script needs beside the
    message (e.g. where to go next)."""

    status_code = 400
    #: The page a person is shown (proctor.refusals); an app may give its refusals their own.
    template_name = "refused.html"
    #: X-Frame-Options of that page where it may be shown in a frame of Invigil's own pages.
    frame_options: str | None = None

    def details(self) -> dict[str, Any]:
        return {}


class Invalid(Refusal):
    """What was sent cannot be used as it is (a missing reason, a note too long)."""

    status_code = 400


class NotAllowed(Refusal):
    """This person may not do this."""

    status_code = 403


class NotFound(Refusal):
    """What was asked for does not exist, or not for this person."""

    status_code = 404


class Conflict(Refusal):
    """Not now: the state of things does not allow it (the attempt is over, a hold stands)."""

    status_code = 409


class Unprocessable(Refusal):
    """Well-formed, but it does not do what it must (no face in the picture)."""

    status_code = 422
