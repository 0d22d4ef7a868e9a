"""The one rule for "does this request come from Safe Exam Browser with the exam's configuration?",
used by the HTTP middleware, the JavaScript-API check and the recording socket's guard.

A request passes when every key the exam lists is proven for the request's own URL: the Config Key
by X-SafeExamBrowser-ConfigKeyHash, a Browser Exam Key by X-SafeExamBrowser-RequestHash. When both a
.seb file and Browser Exam Keys are set, both must match, as Moodle does: the Config Key pins the
settings, a Browser Exam Key pins the SEB build as well. SEB versions that send no headers (its modern
web view) give the same hashes to the page through its JavaScript API; once checked, the student's
signed-in session remembers it for that exam session (see docs/safe-exam-browser.md for the trade-off).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockdown.config_key import hash_matches
from lockdown.models import SafeExamBrowserRequirement

CONFIG_KEY_HEADER = "X-SafeExamBrowser-ConfigKeyHash"
REQUEST_HASH_HEADER = "X-SafeExamBrowser-RequestHash"

#: The student's pages and calls while taking an exam: the consent page, the exam page, its API calls
#: the recording's token and finalisation, and the LMS's assessment (lti). Their URLs carry the exam session's id.
GUARDED_URL_NAMES = frozenset(
    {
        "session_consent",
        "session_exam",
        "api_session_check",
        "api_session_probe",
        "api_session_begin",
        "api_session_answer",
        "api_session_break",
        "api_session_submit",
        "api_stream_token",
        "api_recordings_finalise",
        # An assessment of the LMS: the page that hands the student to it, and its status.
        "lti_start_assessment",
        "lti_assessment_status",
    }
)

#: Where the student's signed-in session remembers the exam sessions verified through the JavaScript
#: API (or by headers): exam session id -> the requirement's fingerprint when it was verified.
VERIFIED_SESSION_KEY = "lockdown_verified"


@dataclass(frozen=True)
class SebHashes:
    """What a request says about its browser: the two per-URL hashes, either possibly absent."""

    config_key_hash: str = ""
    request_hash: str = ""

    @property
    def present(self) -> bool:
        return bool(self.config_key_hash or self.request_hash)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SebHashes:
        return cls(
            config_key_hash=headers.get(CONFIG_KEY_HEADER, "") or "",
            request_hash=headers.get(REQUEST_HASH_HEADER, "") or "",
        )


def hashes_valid(requirement: SafeExamBrowserRequirement, url: str, hashes: SebHashes) -> bool:
    """Whether the hashes prove, for this URL, every key the requirement lists (see the module's rule)."""
    if not requirement.enforced:
        return True
    config_key_proven = not requirement.config_key or hash_matches(hashes.config_key_hash, url, requirement.config_key)
    browser_exam_key_proven = not requirement.browser_exam_keys or any(
        hash_matches(hashes.request_hash, url, key) for key in requirement.browser_exam_keys
    )
    return config_key_proven and browser_exam_key_proven


def requirement_for_student(session_id: uuid.UUID | str, user: Any) -> SafeExamBrowserRequirement | None:
    """The enforced requirement of the exam of this session when ``user`` is its student, else None:
    other people reach the view, whose own permission check answers them."""
    if user is None or not user.is_authenticated:
        return None
    # Asked on every guarded request and every socket's sign-in: at most one row can match (one exam per
    # session, one requirement per exam), so no ordering; and without the .seb file, which only its
    # download sends (the exam, for the refusal page, loads if it is needed).
    found = SafeExamBrowserRequirement.objects.filter(
        required=True, exam__sessions__pk=session_id, exam__sessions__student_id=user.pk
    ).defer("config_file")[:1]
    requirement = next(iter(found), None)
    return requirement if requirement is not None and requirement.enforced else None


def session_verified(django_session: Any, session_id: uuid.UUID | str, requirement: SafeExamBrowserRequirement) -> bool:
    verified = django_session.get(VERIFIED_SESSION_KEY) or {}
    return bool(verified.get(str(session_id)) == requirement.fingerprint)


def session_mark_verified(
    django_session: Any, session_id: uuid.UUID | str, requirement: SafeExamBrowserRequirement
) -> None:
    verified = dict(django_session.get(VERIFIED_SESSION_KEY) or {})
    if verified.get(str(session_id)) != requirement.fingerprint:
        verified[str(session_id)] = requirement.fingerprint
        django_session[VERIFIED_SESSION_KEY] = verified


def request_allowed(
    *,
    requirement: SafeExamBrowserRequirement,
    url: str,
    hashes: SebHashes,
    django_session: Any,
    session_id: uuid.UUID | str,
) -> bool:
    """A request with SEB's hashes is judged by them alone (wrong hashes are refused even after an
    earlier verification); one without them passes only if this exam session was verified before in
    the same signed-in session, with the keys the exam lists now. A passing header check is
    remembered, so that the recording socket, whose upgrade request SEB may send without them, can
    rely on it."""
    if hashes.present:
        if not hashes_valid(requirement, url, hashes):
            return False
        session_mark_verified(django_session, session_id, requirement)
        return True
    return session_verified(django_session, session_id, requirement)
