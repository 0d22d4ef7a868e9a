"""Staff sign-ins end after INVIGIL_STAFF_IDLE_MINUTES without a request and INVIGIL_STAFF_SESSION_HOURS
in all: instructors, reviewers and admins reach recordings and identity data, so a browser left
signed in is a way in. Students are not timed out this way: an exam can last hours without a page
load, and its own clock and stream tokens govern it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from exams.permissions import is_staff_anywhere

#: Session keys: when the sign-in began (the first request it made: signing in starts a new session), when
#: the user was last seen, and whether they are staff (worked out once per sign-in).
SIGNED_IN_AT = "invigil_signed_in_at"
LAST_SEEN = "invigil_last_seen"
STAFF = "invigil_staff"
#: The last-seen time is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def staff_session_problem(session: Any, user: Any, now: datetime) -> str | None:
    """Why this staff sign-in has ended, in the words shown at the sign-in page; None while it stands.
    Records when the user was last seen as a side effect."""
    if STAFF not in session:
        session[STAFF] = is_staff_anywhere(user)
    if not session[STAFF]:
        return None
    idle = timedelta(minutes=settings.INVIGIL_STAFF_IDLE_MINUTES)
    longest = timedelta(hours=settings.INVIGIL_STAFF_SESSION_HOURS)
    signed_in, seen = _when(session.get(SIGNED_IN_AT)), _when(session.get(LAST_SEEN))
    if signed_in is None:
        session[SIGNED_IN_AT] = now.isoformat()
    elif now - signed_in > longest:
        return f"You were signed out: staff sign-ins last at most {settings.INVIGIL_STAFF_SESSION_HOURS} hours."
    if seen is not None and now - seen > idle:
        return (
            f"You were signed out after {settings.INVIGIL_STAFF_IDLE_MINUTES} minutes without activity, "
            "as staff sign-ins are."
        )
    if seen is None or now - seen >= TOUCH_EVERY:
        session[LAST_SEEN] = now.isoformat()
    return None


class StaffSessionTimeoutMiddleware:
    """Signs staff out at the idle or absolute limit, and sends them to the sign-in page (or answers an
    API call with 401) saying why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            problem = staff_session_problem(request.session, user, timezone.now())
            if problem is not None:
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": problem}, status=401)
                messages.info(request, problem)
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)
