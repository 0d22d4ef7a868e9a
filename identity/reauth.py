"""Recent sign-in: reading someone else's recordings needs a password typed within the last few
minutes, not just a sign-in from this morning (ACCESS_REAUTH_MINUTES, 15 by default).

The time of the last password check lives in the user's session: set at every sign-in (receivers)
and by ``reauthenticate``, which runs the password through Django's backends, so django-axes counts a
wrong password here towards the lockout like one on the sign-in page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone

from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.models import Outcome

#: Session key holding the time of the last password check, as a POSIX timestamp.
AUTH_AT = "invigil_auth_at"


def reauth_window() -> timedelta:
    return timedelta(minutes=settings.ACCESS_REAUTH_MINUTES)


def authenticated_at(request: HttpRequest) -> datetime | None:
    """When this browser last gave the password, or None when it is not known."""
    stamp = request.session.get(AUTH_AT)
    if not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())


def mark_authenticated(request: HttpRequest) -> None:
    request.session[AUTH_AT] = timezone.now().timestamp()


def signed_in_recently(request: HttpRequest) -> bool:
    at = authenticated_at(request)
    return at is not None and timezone.now() - at <= reauth_window()


def reauthenticate(request: HttpRequest, password: str) -> bool:
    """Check the signed-in user's password again; True and the time noted when it is right.

    A wrong password is logged as a refused re-authentication (and counted by django-axes)."""
    user: Any = request.user
    try:
        checked = authenticate(request, username=user.get_username(), password=password) if password else None
    except PermissionDenied:  # django-axes: locked out after too many wrong passwords
        checked = None
    if checked is None or checked.pk != user.pk:
        audit_record(
            actor=user, action=AuditAction.REAUTHENTICATE, target=user, request=request, outcome=Outcome.REFUSED
        )
        return False
    mark_authenticated(request)
    audit_record(actor=user, action=AuditAction.REAUTHENTICATE, target=user, request=request)
    return True
