"""Refusals of a login or launch from an LMS, in proctor.errors' hierarchy. Each carries a short ``reason``
for the audit log and what is known of the platform; lti.views audits them and proctor.refusals renders
them with the LTI page, which says what to tell the LMS's administrator."""

from __future__ import annotations

from typing import Any

from proctor.errors import Invalid, NotAllowed, Refusal


class LtiRefusal(Refusal):
    """A login or launch Invigil turned down. ``reason`` is a code for the audit log (``bad_signature``);
    ``context`` holds what was known when it was refused (issuer, client id, deployment), never a token."""

    template_name = "lti/refused.html"
    #: A launch may land in a frame of Invigil's exam page (LtiEndAssessment where the assessment was shown):
    #: its refusal must show there too, not as a blank frame.
    frame_options = "SAMEORIGIN"

    def __init__(self, message: str, *, reason: str, **context: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.context = {key: value for key, value in context.items() if value not in (None, "")}


class LaunchInvalid(LtiRefusal, Invalid):
    """The login or launch is not one Invigil can trust: a token or state that does not check out, an
    unknown platform or deployment, a claim missing (400)."""


class LaunchNotAllowed(LtiRefusal, NotAllowed):
    """A valid launch that asks for something this person may not have: another course's link, a role
    Invigil gives nothing to (403)."""
