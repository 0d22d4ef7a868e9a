"""Real Daphne passes a recording chunk of up to 4 MiB to the socket's consumer, and a larger one gets
the consumer's 4413 with its message, not autobahn's bare 1009."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from exams.models import SessionStatus
from exams.services import session_transition
from recordings import protocol
from recordings.models import RecordingChunk
from recordings.services import MAX_CHUNK_BYTES, WEBM_MAGIC
from recordings.tokens import stream_token_for
from tests.conftest import World
from tests.recordings.test_consumer import cookie_for

pytestmark = pytest.mark.django_db(transaction=True)


def chunk_frame(seq: int, data: bytes) -> bytes:
    return protocol.HEADER.pack(protocol.VERSION, 0, 0, seq, 0) + data


def start_exam(world: World) -> None:
    for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")


def test_a_chunk_over_daphnes_own_limit_is_stored_and_a_larger_one_than_ours_gets_4413(
    world: World, asgi_server: Any
) -> None:
    start_exam(world)
    student = world.users["student"]
    token = stream_token_for(session_id=world.session.pk, user_id=student.pk)
    with connect(
        f"ws://localhost:{asgi_server.port}/ws/sessions/{world.session.pk}/stream/?token={token}",
        additional_headers={"Cookie": cookie_for(student).decode(), "Origin": f"http://localhost:{asgi_server.port}"},
        max_size=None,
        open_timeout=20,
    ) as socket:
        socket.send(json.dumps({"type": "start", "stream": "webcam", "part": 0, "mime": "video/webm"}))
        assert json.loads(socket.recv(timeout=20))["type"] == "started"
        socket.send(chunk_frame(0, WEBM_MAGIC + bytes(2 * 1024 * 1024)))  # over Daphne's default 1 MiB
        ack = json.loads(socket.recv(timeout=30))
        assert (ack["type"], ack["seq"], ack["outcome"]) == ("ack", 0, "stored")

        socket.send(chunk_frame(1, bytes(MAX_CHUNK_BYTES + 1)))
        closing = json.loads(socket.recv(timeout=30))
        assert closing == {"type": "closing", "code": protocol.CLOSE_TOO_LARGE, "message": closing["message"]}
        assert "too large" in closing["message"]
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == protocol.CLOSE_TOO_LARGE
    assert list(RecordingChunk.objects.values_list("seq", flat=True)) == [0]


def test_daphnes_message_limit_leaves_room_for_the_largest_chunk_frame() -> None:
    assert MAX_CHUNK_BYTES + protocol.HEADER.size < settings.INVIGIL_MAX_WEBSOCKET_MESSAGE_BYTES
