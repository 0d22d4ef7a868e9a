"""What the instructor's forms send, for tests that post them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from exams.models import Check, Exam


def local_minute(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def exam_post(exam: Exam | None = None, **changes: Any) -> dict[str, Any]:
    """The settings form as the browser sends it: ``exam``'s settings (a new exam next week without
    one), with ``changes`` (a value None leaves the field out, as an unticked box is left out)."""
    if exam is None:
        opens = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
        data: dict[str, Any] = {
            "title": "Quiz 1",
            "instructions": "Answer every question.",
            "opens_at": local_minute(opens),
            "closes_at": local_minute(opens + timedelta(hours=3)),
            "duration_minutes": "60",
            "record_webcam": "on",
            "record_audio": "on",
            "record_screen": "on",
            "sensitivity": "standard",
            "checks_running": list(Check.values),
            "allowed_materials": [],
            "identity_check_required": "on",
            "alternative_arrangement": "An oral exam by video call, not recorded.",
            "alternative_contact": "Exams office, exams@example.edu",
        }
    else:
        data = {
            "title": exam.title,
            "instructions": exam.instructions,
            "opens_at": local_minute(exam.opens_at),
            "closes_at": local_minute(exam.closes_at),
            "duration_minutes": str(exam.duration_minutes),
            "sensitivity": exam.sensitivity,
            "checks_running": [c for c in Check.values if c not in exam.checks_off],
            "allowed_materials": list(exam.allowed_materials),
            "alternative_arrangement": exam.alternative_arrangement,
            "alternative_contact": exam.alternative_contact,
        }
        for name in ("record_webcam", "record_audio", "record_screen", "identity_check_required"):
            if getattr(exam, name):
                data[name] = "on"
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def question_post(kind: str = "single_choice", **changes: Any) -> dict[str, Any]:
    """The question form with four option rows: two options, the first correct, two rows empty."""
    data: dict[str, Any] = {
        "kind": kind,
        "prompt": "What is 6 × 7?",
        "points": "2",
        "numeric_answer": "",
        "numeric_tolerance": "",
        "choice-TOTAL_FORMS": "4",
        "choice-INITIAL_FORMS": "0",
        "choice-0-text": "42",
        "choice-0-is_correct": "on",
        "choice-1-text": "48",
        "choice-2-text": "",
        "choice-3-text": "",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}
