"""Template filters that show moments, days and recording positions one way on every page."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from proctor.moments import day_text, moment_text

register = template.Library()


@register.filter
def moment(value: datetime | None, precision: str = "") -> SafeString | str:
    """``<time>`` with the machine-readable instant and "Wed 2 Dec 2026, 16:07 UTC"; ``|moment:"seconds"``
    adds the seconds. Nothing for no value, so ``|default`` can follow."""
    if value is None or value == "":
        return ""
    return format_html(
        '<time datetime="{}">{}</time>',
        value.isoformat(),
        moment_text(value, seconds=precision == "seconds"),
    )


@register.filter
def day(value: date | datetime | None) -> SafeString | str:
    """``<time>`` with the day alone, as moments show it: "Wed 2 Dec 2026"."""
    if value is None or value == "":
        return ""
    local = timezone.localtime(value) if isinstance(value, datetime) else value
    return format_html('<time datetime="{}">{}</time>', local.strftime("%Y-%m-%d"), day_text(value))


@register.filter
def clock(seconds: float | None) -> str:
    """A position in a recording: "2:10", or "1:02:10" past the hour."""
    whole = max(0, round(seconds or 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
