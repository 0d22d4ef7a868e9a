"""Rate limits for the endpoints a page or a script can call in a loop: autosave and identity uploads.

DRF's scoped throttle, counted per user and scope in Django's cache, with the rates in settings
(``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``). The cache is each server process's own memory, so with
several processes each counts for itself: a client gets at most that many times the rate, which still
bounds it, and a Redis outage cannot turn an autosave into an error.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

TOO_MANY = "Too many requests in a short time; your work so far is kept."


class ScopedThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, reading its rate when asked (DRF's own reads the rates once, at import)."""

    def get_rate(self) -> str | None:
        rates: dict[Any, Any] = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No throttle rate is set for the scope {self.scope!r}.")
        rate = rates[self.scope]
        return None if rate is None else str(rate)


class ThrottledAPIView(APIView):
    """A DRF view with a ``throttle_scope``: throttled per user, refused with 429 and a plain message."""

    throttle_classes = [ScopedThrottle]
    throttle_scope: str

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise exceptions.Throttled(wait, detail=TOO_MANY)


def throttle_wait(*, scope: str, user_id: Any) -> int | None:
    """For views outside DRF: count one request of ``user_id`` under ``scope``. Returns None when it is
    within the rate, else the whole seconds to wait."""
    throttle = ScopedThrottle()
    user = SimpleNamespace(is_authenticated=True, pk=user_id)
    if throttle.allow_request(SimpleNamespace(user=user), SimpleNamespace(throttle_scope=scope)):  # type: ignore[arg-type]
        return None
    return max(1, math.ceil(throttle.wait() or 1))


def too_many_message(wait: int) -> str:
    return f"{TOO_MANY} Try again in {wait} second{'s' if wait != 1 else ''}."
