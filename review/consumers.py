"""The review dashboard's live feed: new sessions, status changes and analysis progress of an exam's sessions.

Thin by design: authenticate, authorise through exams.permissions, join the exam's group, and pass
its events on. Listeners only: the feed accepts nothing from the browser.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from exams.models import Exam
from exams.permissions import Action, can
from exams.services import exam_group
from recordings import protocol


class ExamReviewFeedConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        await self.accept()  # accept first, so the close code reaches the browser
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(protocol.CLOSE_UNAUTHENTICATED, "Sign in again to see live updates.")
            return
        exam_id, refusal = await self.authorise(user)
        if refusal is not None:
            await self.refuse(*refusal)
            return
        self.group = exam_group(exam_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send(text_data=json.dumps({"type": "ready"}))

    @database_sync_to_async
    def authorise(self, user: Any) -> tuple[int | None, tuple[int, str] | None]:
        exam = Exam.objects.select_related("course").filter(pk=self.scope["url_route"]["kwargs"]["exam_id"]).first()
        if exam is None:
            return None, (protocol.CLOSE_NOT_FOUND, "There is no such exam.")
        if not can(user, Action.VIEW_EXAM_SESSIONS, exam):
            return None, (protocol.CLOSE_FORBIDDEN, "You may not review this exam.")
        return exam.pk, None

    async def refuse(self, code: int, message: str) -> None:
        await self.send(text_data=json.dumps({"type": "closing", "code": code, "message": message}))
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # a feed: nothing the browser sends changes anything

    async def session_opened(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def session_status(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def analysis_progress(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))
