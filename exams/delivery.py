"""Exams whose assessment lives in the LMS: the one seam through which the LMS integration gives the exam
page its assessment, so this app names no LMS (``lti`` sits above it in the import order and registers
itself here when Django starts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from exams.models import ExamSession

#: Given the student's request and their session of an exam of the LMS, what the exam page needs to show
#: the LMS's assessment (the URL it posts to for it, how it is shown, the LMS's name), or None when this
#: session was not started from an LMS launch.
AssessmentProvider = Callable[[HttpRequest, ExamSession], dict[str, Any] | None]

_providers: list[AssessmentProvider] = []


def register_assessment_provider(provider: AssessmentProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def assessment_for(request: HttpRequest, session: ExamSession) -> dict[str, Any] | None:
    for provider in _providers:
        assessment = provider(request, session)
        if assessment is not None:
            return assessment
    return None
