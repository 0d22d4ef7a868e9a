"""The admin's front page warns when the retention promise is not being kept on schedule."""

from __future__ import annotations

from django import template

from privacy.selectors import purge_schedule_problem

register = template.Library()


@register.simple_tag
def retention_purge_problem() -> str:
    return purge_schedule_problem() or ""
