"""Access for a purpose: before anyone plays a session's recordings, opens its evidence pictures or
its review page, they say why (a flag of the session, a case reference, or a reason from a list)
and have typed their password within the last 15 minutes (identity.reauth).

The stated purpose is kept in the reviewer's own sign-in session for ACCESS_PURPOSE_MINUTES, for that
exam session only, and goes into the audit entry of every read it allows. Who may read at all is
still decided by exams.permissions; this adds why and when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from analysis.models import Flag
from exams.models import ExamSession
from identity.reauth import reauthenticate, signed_in_recently
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Invalid

#: Session key: exam session id -> {"purpose": text, "at": POSIX time stated}.
PURPOSES = "invigil_access_purposes"

#: The reasons a reviewer may give besides a flag or a case reference.
REASONS: dict[str, str] = {
    "appeal": "The student's appeal",
    "second_review": "Second review of a referred session",
    "student_request": "The student asked to see their recording with me",
    "identity": "Checking the student's identity",
    "technical": "A technical problem reported for this session",
}
KINDS = ("flag", "case", *REASONS)
CASE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./#:_-]{2,59}$")
MAX_CASE_CHARS = 60
#: The form field of the password, when one is asked for.
PASSWORD = "password"  # noqa: S105 (a field name, not a password)


class PurposeError(Invalid):
    """The stated purpose or password was refused; ``errors`` maps each form field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Grant:
    purpose: str
    stated_at: datetime

    @property
    def until(self) -> datetime:
        return self.stated_at + purpose_window()


def purpose_window() -> timedelta:
    return timedelta(minutes=settings.ACCESS_PURPOSE_MINUTES)


def access_grant(request: HttpRequest, session: ExamSession) -> Grant | None:
    """The purpose this reviewer stated for this session, while it holds; None otherwise."""
    stated = request.session.get(PURPOSES, {}).get(str(session.pk))
    if not isinstance(stated, dict):
        return None
    try:
        grant = Grant(
            purpose=str(stated["purpose"]),
            stated_at=datetime.fromtimestamp(float(stated["at"]), tz=timezone.get_current_timezone()),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return grant if timezone.now() < grant.until else None


def purpose_choices(session: ExamSession) -> list[tuple[str, str]]:
    """The session's flags, as the reviewer sees them, for the purpose form."""
    flags = Flag.objects.filter(session=session).order_by("start_seconds")
    return [(str(flag.pk), f"#{flag.pk} {flag.get_kind_display()} at {flag.start_seconds:.0f} s") for flag in flags]


def _purpose_text(session: ExamSession, data: Any) -> tuple[str, dict[str, str]]:
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        return "", {"kind": "Choose why you need to see this session."}
    if kind == "flag":
        flag_id = str(data.get("flag") or "")
        flag = Flag.objects.filter(session=session, pk=int(flag_id)).first() if flag_id.isdigit() else None
        if flag is None:
            return "", {"flag": "Choose one of this session's flags."}
        return f"flag #{flag.pk} ({flag.get_kind_display()})", {}
    if kind == "case":
        case = str(data.get("case") or "").strip()
        if not CASE_REFERENCE.match(case):
            return "", {
                "case": f"Give the case reference: 3 to {MAX_CASE_CHARS} letters, digits, spaces or . / # : _ -"
            }
        return f"case {case}", {}
    return REASONS[kind], {}


def access_purpose_state(request: HttpRequest, session: ExamSession, data: Any) -> Grant:
    """Check the stated purpose (and the password, when the last one is older than 15 minutes) and
    keep the purpose for this session. Refused input raises PurposeError and changes nothing but the
    audit log, which notes a wrong password."""
    purpose, errors = _purpose_text(session, data)
    if not signed_in_recently(request):
        password = str(data.get(PASSWORD) or "")
        if not password:
            errors[PASSWORD] = (
                f"Type your password: you last gave it more than {settings.ACCESS_REAUTH_MINUTES} minutes ago."
            )
        elif not errors and not reauthenticate(request, password):
            errors[PASSWORD] = "That is not your password. Type the password you sign in with."
    if errors:
        raise PurposeError(errors)
    stated_at = timezone.now()
    purposes = dict(request.session.get(PURPOSES, {}))
    purposes[str(session.pk)] = {"purpose": purpose, "at": stated_at.timestamp()}
    request.session[PURPOSES] = purposes
    audit_record(
        actor=request.user, action=AuditAction.ACCESS_PURPOSE, target=session, request=request, purpose=purpose
    )
    return Grant(purpose=purpose, stated_at=stated_at)
