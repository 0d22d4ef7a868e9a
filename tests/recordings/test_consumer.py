"""The recording socket, end to end through the real ASGI stack (cookie auth, origin check, routing)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from exams.models import SessionStatus
from exams.services import session_transition
from proctor.asgi import application
from recordings import protocol
from recordings.models import BrowserSignal, Recording, RecordingChunk
from recordings.selectors import recording_plaintext
from recordings.tokens import stream_token_for
from tests.conftest import World
from tests.media import make_webm, split

pytestmark = pytest.mark.django_db(transaction=True)
S = SessionStatus
ORIGIN = (b"origin", b"http://localhost")


def start_exam(world: World) -> None:
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")


def cookie_for(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(
    world: World,
    *,
    as_role: str | None = "student",
    token: str | None = None,
    origin: tuple[bytes, bytes] = ORIGIN,
    session: Any = None,
) -> tuple[WebsocketCommunicator, bool]:
    from asgiref.sync import sync_to_async

    session = session or world.session
    headers = [origin, (b"host", b"localhost")]
    user = world.users[as_role] if as_role else None
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    if token is None:
        token = stream_token_for(session_id=session.pk, user_id=user.pk if user else 0)
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.pk}/stream/?token={token}", headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def expect_close(communicator: WebsocketCommunicator, code: int) -> dict[str, Any]:
    closing = await communicator.receive_json_from(timeout=5)
    assert closing["type"] == "closing"
    assert closing["code"] == code
    assert closing["message"]
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": code}
    return closing


async def send_chunk(
    communicator: WebsocketCommunicator, seq: int, data: bytes, stream: str = "webcam"
) -> dict[str, Any]:
    await communicator.send_to(
        bytes_data=protocol.chunk_frame_build(stream=stream, seq=seq, data=data, client_ms=1_700_000_000_000)
    )
    return await communicator.receive_json_from(timeout=10)


async def start_stream(communicator: WebsocketCommunicator, stream: str = "webcam") -> dict[str, Any]:
    await communicator.send_json_to({"type": "start", "stream": stream, "mime": "video/webm;codecs=vp8,opus"})
    return await communicator.receive_json_from(timeout=5)


@pytest.fixture
def started(world: World) -> World:
    start_exam(world)
    return world


@pytest.fixture
def chunks() -> list[bytes]:
    return split(make_webm(seconds=3.0), [1200])


async def test_chunks_are_acknowledged_once_stored_and_decrypt_to_the_stream(
    started: World, chunks: list[bytes]
) -> None:
    communicator, connected = await connect(started)
    assert connected
    assert await start_stream(communicator) == {"type": "started", "stream": "webcam", "part": 0, "stored_chunks": 0}
    for seq, chunk in enumerate(chunks):
        assert await send_chunk(communicator, seq, chunk) == {
            "type": "ack",
            "stream": "webcam",
            "part": 0,
            "seq": seq,
            "outcome": "stored",
        }
    await communicator.disconnect()
    recording = await Recording.objects.aget(session=started.session, kind="webcam")
    from asgiref.sync import sync_to_async

    assert await sync_to_async(lambda: b"".join(recording_plaintext(recording)))() == b"".join(chunks)


async def test_after_a_dropped_connection_the_rest_arrives_and_nothing_is_lost(
    started: World, chunks: list[bytes]
) -> None:
    first, _ = await connect(started)
    await start_stream(first)
    for seq in range(3):
        await send_chunk(first, seq, chunks[seq])
    await first.send_to(bytes_data=protocol.chunk_frame_build(stream="webcam", seq=3, data=chunks[3]))
    await first.disconnect()  # cut before chunk 3's acknowledgement was read

    second, _ = await connect(started)
    started_again = await start_stream(second)
    assert started_again["stored_chunks"] in (3, 4)
    for seq in range(2, len(chunks)):  # the browser re-sends everything not acknowledged, and one more
        reply = await send_chunk(second, seq, chunks[seq])
        assert reply["type"] == "ack"
    await second.disconnect()
    assert await RecordingChunk.objects.filter(recording__session=started.session).acount() == len(chunks)


async def test_a_resent_chunk_is_acknowledged_as_a_duplicate(started: World, chunks: list[bytes]) -> None:
    communicator, _ = await connect(started)
    await start_stream(communicator)
    await send_chunk(communicator, 0, chunks[0])
    assert (await send_chunk(communicator, 0, chunks[0]))["outcome"] == "duplicate"
    await communicator.disconnect()


async def test_a_signed_out_browser_is_told_to_sign_in(started: World) -> None:
    communicator, connected = await connect(started, as_role=None)
    assert connected
    await expect_close(communicator, protocol.CLOSE_UNAUTHENTICATED)


@pytest.mark.parametrize("role", ["other_student", "instructor", "admin", "outsider"])
async def test_nobody_but_the_student_may_stream_into_a_session(started: World, role: str) -> None:
    communicator, _ = await connect(started, as_role=role)
    await expect_close(communicator, protocol.CLOSE_FORBIDDEN)


async def test_another_students_token_is_refused(started: World) -> None:
    stolen = stream_token_for(session_id=started.session.pk, user_id=started.users["other_student"].pk)
    communicator, _ = await connect(started, token=stolen)
    await expect_close(communicator, protocol.CLOSE_FORBIDDEN)


async def test_a_forged_token_is_refused(started: World) -> None:
    communicator, _ = await connect(started, token="forged")
    await expect_close(communicator, protocol.CLOSE_FORBIDDEN)


async def test_a_page_from_another_origin_cannot_connect(started: World) -> None:
    _, connected = await connect(started, origin=(b"origin", b"https://evil.example"))
    assert not connected


async def test_a_session_that_has_not_started_is_closed(world: World) -> None:
    communicator, _ = await connect(world)
    await expect_close(communicator, protocol.CLOSE_CLOSED)


async def test_an_oversized_frame_closes_the_socket_and_leaves_the_stream_intact(
    started: World, chunks: list[bytes]
) -> None:
    communicator, _ = await connect(started)
    await start_stream(communicator)
    await send_chunk(communicator, 0, chunks[0])
    await communicator.send_to(
        bytes_data=protocol.chunk_frame_build(stream="webcam", seq=1, data=b"x" * (4 * 1024 * 1024 + 1))
    )
    await expect_close(communicator, protocol.CLOSE_TOO_LARGE)
    assert await RecordingChunk.objects.acount() == 1


@pytest.mark.parametrize("frame", [b"\x01\x00", b"\x09" + b"\x00" * 13 + b"data", b"\x01\x07" + b"\x00" * 12 + b"data"])
async def test_a_malformed_frame_closes_the_socket(started: World, frame: bytes) -> None:
    communicator, _ = await connect(started)
    await start_stream(communicator)
    await communicator.send_to(bytes_data=frame)
    await expect_close(communicator, protocol.CLOSE_MALFORMED)
    assert await RecordingChunk.objects.acount() == 0


async def test_bytes_that_are_not_webm_are_refused_and_the_socket_stays_open(
    started: World, chunks: list[bytes]
) -> None:
    communicator, _ = await connect(started)
    await start_stream(communicator)
    reply = await send_chunk(communicator, 0, b"GIF89a not a video")
    assert (reply["type"], reply["code"], reply["seq"]) == ("error", "not_webm", 0)
    assert (await send_chunk(communicator, 0, chunks[0]))["type"] == "ack"
    await communicator.disconnect()


async def test_a_chunk_for_a_stream_not_started_is_refused(started: World, chunks: list[bytes]) -> None:
    communicator, _ = await connect(started)
    reply = await send_chunk(communicator, 0, chunks[0], stream="screen")
    assert (reply["type"], reply["code"]) == ("error", "unknown_stream")
    await communicator.disconnect()
    assert await RecordingChunk.objects.acount() == 0


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "malformed"),
        ('["a list"]', "malformed"),
        ('{"type": "explode"}', "unknown_type"),
        ('{"type": "start", "stream": "keystrokes"}', "unknown_stream"),
        ('{"type": "signal", "kind": "emotion", "client_time": 1}', "unknown_signal"),
    ],
)
async def test_bad_json_messages_get_a_clear_error_and_change_nothing(started: World, message: str, code: str) -> None:
    communicator, _ = await connect(started)
    await communicator.send_to(text_data=message)
    reply = await communicator.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"]) == ("error", code)
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()
    assert await BrowserSignal.objects.acount() == 0
    assert await Recording.objects.acount() == 0


async def test_browser_signals_are_stored_with_both_clocks(started: World) -> None:
    import time

    communicator, _ = await connect(started)
    client_ms = int(time.time() * 1000) - 2000
    await communicator.send_json_to(
        {"type": "signal", "kind": "tab_hidden", "client_time": client_ms, "detail": {"visibility": "hidden"}}
    )
    assert (await communicator.receive_json_from(timeout=5))["type"] == "signal_ack"
    await communicator.disconnect()
    signal = await BrowserSignal.objects.aget()
    assert signal.kind == "tab_hidden"
    assert abs(signal.client_time.timestamp() * 1000 - client_ms) < 1
    assert signal.server_time > signal.client_time
    assert signal.detail == {"visibility": "hidden"}


async def test_a_flood_of_messages_closes_the_socket(started: World) -> None:
    communicator, _ = await connect(started)
    for _ in range(400):
        await communicator.send_to(text_data=json.dumps({"type": "ping"}))
    replies = []
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == protocol.CLOSE_FLOOD
            break
        replies.append(json.loads(output["text"]))
    assert replies[-1]["type"] == "closing"
    assert sum(r["type"] == "pong" for r in replies) < 400


async def test_a_reload_starts_a_new_part_that_is_stored_apart(started: World, chunks: list[bytes]) -> None:
    communicator, _ = await connect(started)
    await start_stream(communicator)
    await send_chunk(communicator, 0, chunks[0])
    await communicator.send_json_to({"type": "start", "stream": "webcam", "part": 1, "mime": "video/webm"})
    assert (await communicator.receive_json_from(timeout=5))["part"] == 1
    await communicator.send_to(bytes_data=protocol.chunk_frame_build(stream="webcam", part=1, seq=0, data=chunks[0]))
    assert (await communicator.receive_json_from(timeout=5))["part"] == 1
    await communicator.disconnect()
    parts = [r async for r in Recording.objects.filter(session=started.session).order_by("part")]
    assert [r.part for r in parts] == [0, 1]
    assert parts[0].data_key_id != parts[1].data_key_id


@pytest.mark.parametrize(
    "message",
    [
        "[" * 4000,
        '{"type": "signal", "kind": "copy", "client_time": 1, "detail": {"x": NaN}}',
        '{"type": "signal", "kind": "copy", "client_time": 1e308, "detail": []}',
    ],
)
async def test_hostile_json_gets_an_error_not_a_crash(started: World, message: str) -> None:
    communicator, _ = await connect(started)
    await communicator.send_to(text_data=message)
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["type"] == "error"
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()
    assert await BrowserSignal.objects.acount() == 0


@pytest.mark.parametrize(
    "message",
    [
        {"type": "signal", "kind": "copy", "client_time": 1, "detail": {"text": "a\x00b"}},
        {"type": "signal", "kind": "copy", "client_time": 1, "detail": {"a\x00": 1}},
        {"type": "signal", "kind": "copy\x00", "client_time": 1},
        {"type": "start", "stream": "webcam", "mime": "video/webm\x00"},
        {"type": "signal", "kind": "tab_hidden", "client_time": 1, "detail": {"text": "lone \ud800"}},
    ],
)
async def test_a_message_with_a_control_character_closes_the_socket_with_4400_and_stores_nothing(
    started: World, message: dict[str, Any]
) -> None:
    communicator, _ = await connect(started)
    await communicator.send_to(text_data=json.dumps(message))
    closing = await expect_close(communicator, protocol.CLOSE_MALFORMED)
    assert "control character" in closing["message"]
    assert await BrowserSignal.objects.acount() == 0
    assert await Recording.objects.acount() == 0


async def test_chunks_are_taken_while_redis_is_down(started: World, chunks: list[bytes], settings: Any) -> None:
    # The channel layer points at a stopped Redis: a consumer that listened on it would die at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        stopped = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [stopped]}}
    }
    communicator, connected = await connect(started)
    assert connected
    assert (await start_stream(communicator))["type"] == "started"
    for seq, chunk in enumerate(chunks):
        assert (await send_chunk(communicator, seq, chunk))["outcome"] == "stored"
    await communicator.disconnect()
    recording = await Recording.objects.aget(session=started.session, kind="webcam")
    from asgiref.sync import sync_to_async

    assert b"".join(await sync_to_async(lambda: list(recording_plaintext(recording)))()) == b"".join(chunks)


async def test_a_busy_sync_thread_does_not_hold_up_students_connecting(started: World, chunks: list[bytes]) -> None:
    # Thread-sensitive code shares one thread. While something holds it, a student still signs in on the
    # socket, starts a stream and has a chunk stored: nothing on the socket's path waits for that thread.
    import threading

    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(cookie_for)(started.users["student"])  # the test client's own login first
    release = threading.Event()
    holding = asyncio.ensure_future(sync_to_async(release.wait, thread_sensitive=True)(30))
    try:
        token = stream_token_for(session_id=started.session.pk, user_id=started.users["student"].pk)
        headers = [ORIGIN, (b"host", b"localhost"), (b"cookie", cookie)]
        path = f"/ws/sessions/{started.session.pk}/stream/?token={token}"
        communicator = WebsocketCommunicator(application, path, headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await start_stream(communicator))["type"] == "started"
        assert (await send_chunk(communicator, 0, chunks[0]))["outcome"] == "stored"
        assert not holding.done()
    finally:
        release.set()
        await holding
    await communicator.disconnect()
