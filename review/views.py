"""Review pages and endpoints. Authorisation goes through exams.permissions, nowhere else."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from exams.permissions import Action, require
from proctor.ranges import ByteRange, RangeNotSatisfiable, byte_range
from recordings.models import Recording
from recordings.selectors import recording_playback_bytes


def _private(response: HttpResponse | StreamingHttpResponse) -> HttpResponse | StreamingHttpResponse:
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
    response = StreamingHttpResponse(
        recording_playback_bytes(recording, start=span.start, stop=span.stop, actor=request.user, request=request),
        status=206 if wanted else 200,
        content_type="video/webm",
    )
    response["Content-Length"] = str(span.length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = span.content_range(size)
    return _private(response)
