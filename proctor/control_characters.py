"""One rule for text that people type: no NUL or other control characters, and no lone surrogates.

PostgreSQL refuses NUL in text and JSON, and no database stores a lone surrogate; left unchecked, such
input turns into a 500 (or a socket closed with 1011) after the work has begun. So every form field,
query parameter and JSON body is checked here before a view sees it (400), and the recording socket
checks its JSON messages with the same function (close code 4400). Tab, line feed and carriage return
are text, not control characters, since notes and answers span lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def control_character_problem(value: object) -> str | None:
    """None when every string in ``value`` (a string, or lists and objects of them, keys included)
    is plain text; otherwise a sentence saying what was found, fit to show the sender."""
    pending = [value]
    while pending:  # a loop, not recursion: a deeply nested value must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            found = _FORBIDDEN.search(item)
            if found is not None:
                return (
                    f"The text holds a control character (U+{ord(found.group()):04X}), which Invigil does "
                    "not accept; remove it and send again."
                )
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def request_text_problem(request: HttpRequest) -> str | None:
    """The first control character in a request's query, form fields or JSON body, as a sentence."""
    problem = control_character_problem([[key, *request.GET.getlist(key)] for key in request.GET])
    if problem or request.method in ("GET", "HEAD", "OPTIONS"):
        return problem
    content_type = request.content_type or ""
    if content_type in _FORM_TYPES:
        fields = [[key, *request.POST.getlist(key)] for key in request.POST]
        names = [upload.name for _, uploads in request.FILES.lists() for upload in uploads]
        return control_character_problem([fields, names])
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, RecursionError):
            return None  # not JSON: the view's parser says so in its own words
        return control_character_problem(body)
    return None


class ControlCharacterMiddleware:
    """Refuses (400) a request whose text holds a control character, before any view changes anything."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_text_problem(request)
        if problem is None:
            return self.get_response(request)
        wants_json = "json" in (request.content_type or "") or "json" in request.headers.get("Accept", "")
        if wants_json or request.path.startswith("/api/"):
            # DRF's pages read "detail", the review page's script "error": both get the sentence.
            return JsonResponse({"detail": problem, "error": problem}, status=400)
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
