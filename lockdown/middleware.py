"""Safe Exam Browser at the edge: the student's pages and calls of an exam that requires SEB pass only
from SEB with the exam's configuration (lockdown.guard), so the exams and recordings apps need not
know SEB exists. Everyone else's requests, staff pages included, are never checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from lockdown.guard import GUARDED_URL_NAMES, SebHashes, request_allowed, requirement_for_student
from lockdown.models import SafeExamBrowserRequirement
from lockdown.services import seb_refusal_record
from proctor.refusals import wants_json

REFUSAL_MESSAGE = (
    "This exam must be taken in Safe Exam Browser, opened with the exam's own configuration file. "
    "This request did not come from it."
)


def seb_required_context(requirement: SafeExamBrowserRequirement, session_id: Any) -> dict[str, Any]:
    exam = requirement.exam
    return {
        "exam": exam,
        "session_id": session_id,
        "download_url": reverse("lockdown_config_download", args=[exam.pk]) if requirement.config_file_name else "",
        "verify_url": reverse("lockdown_javascript_verify", args=[session_id]),
        "contact": exam.alternative_contact,
    }


class SafeExamBrowserMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.url_name not in GUARDED_URL_NAMES or "session_id" not in view_kwargs:
            return None
        session_id = view_kwargs["session_id"]
        requirement = requirement_for_student(session_id, request.user)
        if requirement is None:
            return None
        if request_allowed(
            requirement=requirement,
            url=request.build_absolute_uri(),
            hashes=SebHashes.from_headers(request.headers),
            django_session=request.session,
            session_id=session_id,
        ):
            return None
        seb_refusal_record(actor=request.user, session_id=session_id, path=request.path, via="request")
        context = seb_required_context(requirement, session_id)
        if wants_json(request):
            body = {"detail": REFUSAL_MESSAGE, "safe_exam_browser": True, "download": context["download_url"]}
            return JsonResponse(body, status=403)
        return render(request, "lockdown/required.html", context, status=403)
