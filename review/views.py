"""Review pages and endpoints. Authorisation goes through exams.permissions, nowhere else."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from analysis.models import Flag
from analysis.rules import RULES, Kind
from exams.models import Course, ExamSession
from exams.permissions import Action, require
from proctor.audit import audit_record
from proctor.crypto import DecryptionError
from proctor.ranges import ByteRange, RangeNotSatisfiable, byte_range
from proctor.streaming import streaming_response
from recordings.models import Recording
from recordings.selectors import recording_open_thumbnail, recording_playback_bytes
from review.selectors import REVIEW_STATES, review_dashboard, session_review


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@login_required
@require_GET
def course_dashboard(request: HttpRequest, course_id: int) -> HttpResponse:
    """Every session of the course's exams, highest score first, filterable; live while analyses run."""
    course = get_object_or_404(Course.objects.select_related("institution"), pk=course_id)
    require(request.user, Action.REVIEW_COURSE, course)
    exam_id = _int_or_none(request.GET.get("exam"))
    flag_kind = request.GET.get("flag") or None
    state = request.GET.get("state") or None
    problems = []
    if flag_kind is not None and flag_kind not in Kind._value2member_map_:
        problems.append("That flag type does not exist; showing every type.")
        flag_kind = None
    if state is not None and state not in REVIEW_STATES:
        problems.append("That review state does not exist; showing every state.")
        state = None
    if exam_id is not None and not course.exams.filter(pk=exam_id).exists():
        problems.append("That exam is not in this course; showing every exam.")
        exam_id = None
    dashboard = review_dashboard(
        course, exam_id=exam_id, flag_kind=flag_kind, state=state, page=request.GET.get("page") or 1
    )
    audit_record(
        actor=request.user,
        action="review.dashboard_view",
        target=course,
        request=request,
        detail={"exam": exam_id, "flag": flag_kind, "state": state, "page": dashboard.page.number},
    )
    filters = {"exam": exam_id, "flag": flag_kind, "state": state}
    query = "&".join(f"{key}={value}" for key, value in filters.items() if value is not None)
    return render(
        request,
        "review/dashboard.html",
        {
            "course": course,
            "dashboard": dashboard,
            "filters": filters,
            "query": query,
            "problems": problems,
            "flag_kinds": [(kind.value, RULES[kind].label) for kind in Kind],
            "states": [(key, label) for key, (label, _) in REVIEW_STATES.items()],
        },
    )


Private = TypeVar("Private", HttpResponse, StreamingHttpResponse)

#: What a reviewer reads when the bytes are gone: crypto-shredded on schedule, or damaged.
UNREADABLE = "This can no longer be played or shown: its recording was deleted on schedule, or is damaged."


def _private(response: Private) -> Private:
    """Played in the page, never offered as a download, never kept in a cache."""
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def recording_playback(request: HttpRequest, recording_id: uuid.UUID) -> HttpResponse | StreamingHttpResponse:
    """The seekable playback copy of a recording, decrypted as it streams, with HTTP Range support so
    the player seeks at once. For the session's reviewers only; every request is audited."""
    recording = get_object_or_404(
        Recording.objects.select_related("session__exam__course", "data_key"), pk=recording_id
    )
    require(request.user, Action.REVIEW_SESSION, recording.session)
    if not recording.playback_name or recording.playback_size is None:
        raise Http404("This recording's playback copy is not ready yet; it is made once the recording is finalised.")
    size = recording.playback_size
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable as exc:
        refused = HttpResponse(str(exc), status=416, content_type="text/plain")
        refused["Content-Range"] = f"bytes */{size}"
        return _private(refused)
    span = wanted or ByteRange(0, size)
    try:
        plaintext = recording_playback_bytes(
            recording, start=span.start, stop=span.stop, actor=request.user, request=request
        )
    except DecryptionError as exc:
        raise Http404(UNREADABLE) from exc
    response = streaming_response(request, plaintext, status=206 if wanted else 200, content_type="video/webm")
    response["Content-Length"] = str(span.length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = span.content_range(size)
    return _private(response)


@login_required
@require_GET
def session_review_page(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """One session: webcam and screen side by side and in sync, and the flags on a timeline."""
    session = get_object_or_404(ExamSession.objects.select_related("exam__course", "student"), pk=session_id)
    require(request.user, Action.REVIEW_SESSION, session)
    review = session_review(session)
    audit_record(actor=request.user, action="review.session_view", target=session, request=request)
    parts = {
        kind: [
            {"url": reverse("recording_playback", args=[part.recording.pk]), "offset": part.offset}
            for part in getattr(review, kind)
        ]
        for kind in ("webcam", "screen")
    }
    return render(request, "review/session.html", {"review": review, "session": session, "review_parts": parts})


@login_required
@require_GET
def flag_thumbnail(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A flag's evidence picture, decrypted for the session's reviewers; every view audited."""
    flag = get_object_or_404(
        Flag.objects.select_related("session__exam__course", "evidence_recording__data_key"), pk=flag_id
    )
    require(request.user, Action.REVIEW_SESSION, flag.session)
    if flag.evidence_thumbnail is None or flag.evidence_recording is None or flag.evidence_seconds is None:
        raise Http404("This flag has no evidence picture.")
    try:
        jpeg = recording_open_thumbnail(
            recording=flag.evidence_recording, moment=flag.evidence_seconds, sealed=bytes(flag.evidence_thumbnail)
        )
    except DecryptionError as exc:
        raise Http404(UNREADABLE) from exc
    audit_record(
        actor=request.user,
        action="flag.thumbnail_view",
        target=flag.evidence_recording,
        request=request,
        detail={"flag": flag.pk, "session": str(flag.session_id)},
    )
    return _private(HttpResponse(jpeg, content_type="image/jpeg"))
