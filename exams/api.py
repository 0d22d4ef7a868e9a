"""JSON endpoints the exam page calls: system check, start, autosave, submit. Thin DRF views:
authorise through exams.permissions, validate with a serializer, call one service; a refusal becomes
its response in proctor.refusals."""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exams.models import ExamSession
from exams.permissions import Action, require
from exams.selectors import break_state
from exams.services import (
    MAX_ANSWER_CHARS,
    answer_save,
    break_end,
    break_start,
    session_begin,
    session_checks_passed,
    session_submit,
)
from proctor.throttling import ThrottledAPIView

#: The upload-speed probe reads and discards this much at most.
MAX_PROBE_BYTES = 2 * 1024 * 1024


def _own_session(request: Request, session_id: uuid.UUID) -> ExamSession:
    session = get_object_or_404(ExamSession.objects.select_related("exam"), pk=session_id)
    require(request.user, Action.RECORD_SESSION, session)
    return session


def _state(session: ExamSession) -> dict[str, Any]:
    return {
        "status": session.status,
        "status_label": session.get_status_display(),
        # Milliseconds: JavaScript's Date.parse rejects microseconds.
        "deadline": session.deadline.isoformat(timespec="milliseconds") if session.deadline else None,
        "server_time": timezone.now().isoformat(timespec="milliseconds"),
        "breaks": break_state(session),
    }


class CheckResultsSerializer(serializers.Serializer):
    camera = serializers.CharField(max_length=100)
    microphone = serializers.CharField(max_length=100)
    screen = serializers.ChoiceField(choices=["monitor"])
    upload_kbit = serializers.IntegerField(min_value=0)
    identity = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class SystemCheckView(APIView):
    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = _own_session(request, session_id)
        results = CheckResultsSerializer(data=request.data)
        results.is_valid(raise_exception=True)
        checks = dict(results.validated_data)
        attestation = checks.pop("identity", "")
        session = session_checks_passed(
            session_id=session.pk,
            results=checks,
            identity_attestation=attestation,
            actor=request.user,
            request=request,
        )
        return Response(_state(session))


class DiscardingParser(BaseParser):
    """Reads raw bytes, counts them and keeps none."""

    media_type = "application/octet-stream"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict[str, int]:
        received = 0
        while received < MAX_PROBE_BYTES and (block := stream.read(65536)):
            received += len(block)
        return {"received": received}


class UploadProbeView(APIView):
    """Receives and discards a blob so the page can time the upload; stores nothing."""

    parser_classes = [DiscardingParser]

    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        _own_session(request, session_id)
        data = request.data if isinstance(request.data, dict) else {}
        return Response({"received": data.get("received", 0)})


class BeginView(APIView):
    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = _own_session(request, session_id)
        session = session_begin(session_id=session.pk, actor=request.user, request=request)
        return Response(_state(session))


class AnswerSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    choice = serializers.IntegerField(required=False, allow_null=True)
    choices = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100)
    text = serializers.CharField(required=False, allow_blank=True, max_length=MAX_ANSWER_CHARS, trim_whitespace=False)


class AnswerView(ThrottledAPIView):
    throttle_scope = "autosave"

    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = _own_session(request, session_id)
        data = AnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = answer_save(
            session_id=session.pk,
            question_id=data.validated_data["question"],
            actor=request.user,
            choice_id=data.validated_data.get("choice"),
            choice_ids=data.validated_data.get("choices"),
            text=data.validated_data.get("text", ""),
        )
        return Response({"question": answer.question_id, "saved_at": answer.updated_at.isoformat()})


class BreakView(APIView):
    """POST starts a break under the student's accommodation; DELETE ends it."""

    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        return self._act(request, session_id, break_start)

    def delete(self, request: Request, session_id: uuid.UUID) -> Response:
        return self._act(request, session_id, break_end)

    def _act(self, request: Request, session_id: uuid.UUID, service: Any) -> Response:
        session = _own_session(request, session_id)
        service(session_id=session.pk, actor=request.user, request=request)
        session.refresh_from_db()
        return Response(_state(session))


class SubmitView(APIView):
    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = _own_session(request, session_id)
        session = session_submit(session_id=session.pk, actor=request.user, request=request)
        return Response(_state(session))
