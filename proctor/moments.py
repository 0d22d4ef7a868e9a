"""How Invigil shows a moment to people: one way everywhere, always with its date and its time zone.

Templates use it through the ``moments`` filters (proctor/templatetags/moments.py), messages built in
Python call it directly, and the browser's copy is static/invigil/moments.js, which must agree.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format

#: "Wed 2 Dec 2026, 16:07 UTC": the weekday guards against misreading the day, the zone against
#: assuming one's own.
MOMENT = "D j M Y, H:i T"
MOMENT_WITH_SECONDS = "D j M Y, H:i:s T"
#: A day on its own, the same way: "Wed 2 Dec 2026".
DAY = "D j M Y"


def moment_text(value: datetime, *, seconds: bool = False) -> str:
    """``value`` in the current time zone, with its date and the zone's name."""
    return date_format(timezone.localtime(value), MOMENT_WITH_SECONDS if seconds else MOMENT)


def day_text(value: date | datetime) -> str:
    """The day of ``value`` (in the current time zone, for a moment), the way moments show it."""
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return date_format(value, DAY)
