"""Template filters for showing exam facts in plain words."""

from __future__ import annotations

from django import template

from exams import lifecycle
from exams.models import Accommodation, Exam

register = template.Library()


@register.filter
def allowed_minutes(accommodation: Accommodation, exam: Exam) -> int:
    return accommodation.allowed_minutes(exam.duration_minutes)


@register.filter
def accommodation_summary(accommodation: Accommodation) -> str:
    parts: list[str] = []
    if accommodation.time_multiplier is not None:
        parts.append(f"{(accommodation.time_multiplier - 1) * 100:.0f}% extra time")
    elif accommodation.extra_minutes:
        parts.append(f"{accommodation.extra_minutes} minutes extra time")
    if accommodation.breaks_allowed:
        parts.append(f"{accommodation.breaks_allowed} break(s), {accommodation.break_minutes} minutes in all")
    if accommodation.no_camera:
        parts.append("no camera")
    if accommodation.speech_allowed:
        parts.append("speaking allowed")
    if accommodation.face_covering:
        parts.append("face covering (no face matching or absent-face check)")
    if accommodation.alternative_arrangement:
        parts.append(f"alternative arrangement: {accommodation.alternative_arrangement}")
    return "; ".join(parts) or "none"


@register.filter
def status_tone(status: str) -> str:
    """The badge colour of a session status (exams.lifecycle.tone)."""
    return lifecycle.tone(status)
