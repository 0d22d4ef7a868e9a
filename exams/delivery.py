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


#: Given a member of staff's request and a session, links to pages of other apps about it (label, URL), for
#: example what the LMS lets Invigil do about an attempt at its assessment.
SessionLinks = Callable[[HttpRequest, ExamSession], list[tuple[str, str]]]

_session_links: list[SessionLinks] = []


def register_session_links(provider: SessionLinks) -> None:
    if provider not in _session_links:
        _session_links.append(provider)


def session_links(request: HttpRequest, session: ExamSession) -> list[tuple[str, str]]:
    return [link for provider in _session_links for link in provider(request, session)]
