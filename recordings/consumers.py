"""The recording socket: the student's browser streams chunks and browser signals; the server
acknowledges each chunk once it is encrypted and durably stored.

Thin by design: authenticate, authorise through exams.permissions, parse the frame, call one
service, reply.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from exams.lifecycle import UPLOADING
from exams.models import ExamSession
from exams.permissions import Action, can
from proctor.control_characters import control_character_problem
from proctor.db import pooled_database_call
from recordings import protocol
from recordings.ingest import committer, starter
from recordings.models import Recording
from recordings.services import (
    MAX_CHUNK_BYTES,
    ChunkRefused,
    StreamStart,
    browser_signal_record,
)
from recordings.tokens import stream_token_valid

MAX_TEXT_BYTES = 4096
# Token bucket: a burst of 120 messages, then 30 a second. Real clients send a chunk every few
# seconds per stream and a handful of signals; anything faster is a fault or an attack.
BUCKET_SIZE = 120
BUCKET_RATE = 30.0


class SessionStreamConsumer(AsyncWebsocketConsumer):
    # No channel layer: nothing is ever sent to this socket through one, and a consumer with a layer
    # listens on it and dies with it. With this alias, which names no layer, Channels gives it none
    # (get_channel_layer returns None), so chunks are taken while Redis is down.
    channel_layer_alias = "none: the recording socket needs no channel layer"

    session: ExamSession
    recordings: dict[tuple[str, int], Recording]

    async def connect(self) -> None:
        # Accept first: a close before accepting reaches the browser as a bare failure, with no code.
        await self.accept()
        self.recordings = {}
        self.tokens, self.refilled = float(BUCKET_SIZE), time.monotonic()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(protocol.CLOSE_UNAUTHENTICATED, "Sign in again to continue recording.")
            return
        # Every database call of this socket is not thread-sensitive: a thousand students reconnecting at
        # once are served side by side on the pool, not one after another on the single sync thread.
        code = await pooled_database_call(self.authorise)(user)
        if code is not None:
            await self.refuse(*code)

    def authorise(self, user: Any) -> tuple[int, str] | None:
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        try:
            session = ExamSession.objects.select_related("exam").get(pk=session_id)
        except ExamSession.DoesNotExist:
            return protocol.CLOSE_NOT_FOUND, "There is no such exam session."
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [""])[0]
        if not can(user, Action.RECORD_SESSION, session) or not stream_token_valid(
            token, session_id=session.pk, user_id=user.pk
        ):
            return protocol.CLOSE_FORBIDDEN, "This is not your exam session, or the page is out of date."
        if session.status not in UPLOADING:
            return protocol.CLOSE_CLOSED, "This exam session is not in progress."
        self.session = session
        return None

    async def dispatch(self, message: Any) -> None:
        # Channels closes stale database connections of its single sync thread before every message:
        # a hop through that one thread for every chunk of every student, queueing behind each other.
        # This socket never uses that thread's connection; its own calls tidy theirs in the pool.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def refuse(self, code: int, message: str) -> None:
        await self.send(text_data=json.dumps({"type": "closing", "code": code, "message": message}))
        await self.close(code=code)

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BUCKET_SIZE, self.tokens + (now - self.refilled) * BUCKET_RATE)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "session"):
            return
        if not self.take_token():
            await self.refuse(protocol.CLOSE_FLOOD, "Too many messages; the page will reconnect.")
            return
        if bytes_data is not None:
            await self.receive_chunk(bytes_data)
        elif text_data is not None:
            await self.receive_message(text_data)

    async def receive_chunk(self, frame: bytes) -> None:
        if len(frame) > MAX_CHUNK_BYTES + protocol.HEADER.size:
            await self.refuse(protocol.CLOSE_TOO_LARGE, "A recording chunk was too large.")
            return
        try:
            chunk = protocol.chunk_frame_parse(frame)
        except protocol.FrameError as exc:
            await self.refuse(protocol.CLOSE_MALFORMED, str(exc))
            return
        recording = self.recordings.get((chunk.stream, chunk.part))
        if recording is None:
            await self.reply_error(
                "unknown_stream",
                f"Start part {chunk.part} of the {chunk.stream} stream first.",
                chunk.stream,
                chunk.seq,
                chunk.part,
            )
            return
        try:
            # Sealed side by side, then made durable and committed with whatever other chunks arrived
            # meanwhile (group commit, recordings.ingest).
            stored = await committer().append(
                recording=recording, seq=chunk.seq, data=chunk.data, client_time=chunk.client_time
            )
        except ChunkRefused as refused:
            await self.reply_error(refused.code, str(refused), chunk.stream, chunk.seq, chunk.part)
            if refused.code == "closed":
                await self.close(code=protocol.CLOSE_CLOSED)
            return
        await self.send(
            text_data=json.dumps(
                {"type": "ack", "stream": chunk.stream, "part": chunk.part, "seq": chunk.seq, "outcome": stored.outcome}
            )
        )

    async def receive_message(self, text: str) -> None:
        if len(text) > MAX_TEXT_BYTES:
            await self.refuse(protocol.CLOSE_TOO_LARGE, "A message was too large.")
            return
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError, RecursionError):
            await self.reply_error("malformed", "Messages must be JSON objects with a type.")
            return
        problem = control_character_problem(message)
        if problem is not None:  # PostgreSQL would refuse it mid-write; the socket says why instead
            await self.refuse(protocol.CLOSE_MALFORMED, problem)
            return
        try:
            if kind == "start":
                await self.start_stream(message)
            elif kind == "signal":
                await self.record_signal(message)
            elif kind == "ping":
                await self.send(text_data=json.dumps({"type": "pong", "server_time": time.time() * 1000}))
            else:
                await self.reply_error("unknown_type", f"Unknown message type {kind!r}.")
        except ChunkRefused as refused:
            await self.reply_error(refused.code, str(refused))

    async def start_stream(self, message: dict[str, Any]) -> None:
        stream = str(message.get("stream", ""))  # which streams there are, and how many parts, the service decides
        part = message.get("part", 0)
        if not isinstance(part, int) or isinstance(part, bool):
            raise ChunkRefused("bad_part", "The part must be a whole number.")
        recording, stored = await starter().start(
            StreamStart(self.session, stream, part, str(message.get("mime", "video/webm")), self.scope["user"])
        )
        self.recordings[(stream, part)] = recording
        await self.send(
            text_data=json.dumps({"type": "started", "stream": stream, "part": part, "stored_chunks": stored})
        )

    async def record_signal(self, message: dict[str, Any]) -> None:
        client_time = protocol.client_time_from_ms(message.get("client_time"))
        signal = await pooled_database_call(browser_signal_record)(
            session=self.session,
            kind=str(message.get("kind")),
            client_time=client_time,
            detail=message.get("detail", {}),
        )
        await self.send(text_data=json.dumps({"type": "signal_ack", "id": signal.pk}))

    async def reply_error(
        self, code: str, message: str, stream: str | None = None, seq: int | None = None, part: int | None = None
    ) -> None:
        await self.send(
            text_data=json.dumps(
                {"type": "error", "code": code, "message": message, "stream": stream, "part": part, "seq": seq}
            )
        )
