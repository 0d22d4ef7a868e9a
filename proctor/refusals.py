"""The one place where a Refusal (proctor.errors) becomes a response: DRF's exception handler for the
API views, and a middleware for every other view (JSON for scripts, a page for people)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.response import Response
from rest_framework.views import exception_handler

from proctor.errors import Refusal


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    return {"detail": str(refusal), **refusal.details()}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: refusals answer with their status and message; everything
    else as DRF would."""
    if isinstance(exc, Refusal):
        return Response(refusal_body(exc), status=exc.status_code)
    return exception_handler(exc, context)


def wants_json(request: HttpRequest) -> bool:
    """A script's call: an API path, a JSON body, or JSON asked for."""
    return (
        request.path.startswith("/api/")
        or request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
    )


class RefusalMiddleware:
    """A refusal no view caught: JSON with the message for a script, the refusal page for a person."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Refusal):
            return None
        if wants_json(request):
            return JsonResponse(refusal_body(exception), status=exception.status_code)
        context = {"message": str(exception), "refusal": exception}
        response = render(request, exception.template_name, context, status=exception.status_code)
        if exception.frame_options:
            response["X-Frame-Options"] = exception.frame_options
        return response
