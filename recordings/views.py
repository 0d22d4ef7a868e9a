"""The exam page asks here for the token that opens its recording socket."""

from __future__ import annotations

import uuid

from django.shortcuts import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exams.lifecycle import UPLOADING
from exams.models import ExamSession
from exams.permissions import Action, require
from recordings.services import ChunkRefused, session_recordings_finalise
from recordings.tokens import stream_token_for


class StreamTokenView(APIView):
    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = get_object_or_404(ExamSession, pk=session_id)
        require(request.user, Action.RECORD_SESSION, session)  # so the user is the session's student
        if session.status not in UPLOADING:
            # A declined (or not yet started) session records nothing: no token to stream with.
            raise ChunkRefused("not_in_progress", "This exam session is not in progress, so nothing is recorded.")
        return Response(
            {
                "token": stream_token_for(session_id=session.pk, user_id=session.student_id),
                "url": f"/ws/sessions/{session.pk}/stream/",
            }
        )


class FinaliseView(APIView):
    """The page says every chunk is acknowledged: close the session's recordings (gaps recorded)."""

    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = get_object_or_404(ExamSession, pk=session_id)
        require(request.user, Action.RECORD_SESSION, session)
        finalised = session_recordings_finalise(session=session, actor=request.user)
        return Response({"finalised": len(finalised), "gaps": sum(r.gaps.count() for r in finalised)})
