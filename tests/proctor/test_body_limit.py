"""Request bodies past the cap get 413 before anything buffers them, anonymous or not: in the ASGI
application (any server) and in Daphne's own request, which otherwise reads a whole body first."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings
from django.urls import reverse
from twisted.internet.testing import StringTransport

from proctor.asgi import application

LIMIT = 100_000


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("192.0.2.7", 50000),
        "server": ("localhost", 80),
    }


def probe_path() -> str:
    return reverse("api_session_probe", args=[uuid.uuid4()])


@pytest.mark.django_db
@override_settings(INVIGIL_MAX_REQUEST_BYTES=LIMIT)
async def test_a_declared_body_over_the_cap_is_refused_before_a_byte_of_it_is_read() -> None:
    communicator = ApplicationCommunicator(application, http_scope(probe_path(), [(b"content-length", b"1073741824")]))
    # No body is ever sent: an answer proves the server did not wait to buffer it.
    start = await communicator.receive_output(timeout=5)
    assert (start["type"], start["status"]) == ("http.response.start", 413)
    body = await communicator.receive_output(timeout=5)
    assert b"too large" in body["body"]
    await communicator.wait(timeout=5)


@pytest.mark.django_db
@override_settings(INVIGIL_MAX_REQUEST_BYTES=LIMIT)
async def test_an_undeclared_body_is_refused_once_it_passes_the_cap_and_the_rest_is_never_read() -> None:
    communicator = ApplicationCommunicator(
        application, http_scope(probe_path(), [(b"content-type", b"application/octet-stream")])
    )
    for _ in range(10):
        await communicator.send_input({"type": "http.request", "body": b"x" * 40_000, "more_body": True})
    start = await communicator.receive_output(timeout=5)
    assert (start["type"], start["status"]) == ("http.response.start", 413)
    await communicator.receive_output(timeout=5)
    await communicator.wait(timeout=5)
    assert communicator.input_queue.qsize() >= 10 - 3  # three 40 kB pieces pass 100 kB; no more were read


@pytest.mark.django_db
@override_settings(INVIGIL_MAX_REQUEST_BYTES=LIMIT)
async def test_a_body_within_the_cap_reaches_the_application() -> None:
    communicator = ApplicationCommunicator(
        application,
        http_scope(probe_path(), [(b"content-length", b"1000"), (b"content-type", b"application/octet-stream")]),
    )
    await communicator.send_input({"type": "http.request", "body": b"x" * 1000, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    assert start["status"] in (302, 401, 403)  # the anonymous caller is turned away by the app itself
    await communicator.wait(timeout=5)


def daphne_connection() -> tuple[Any, StringTransport, dict[Any, Any]]:
    from daphne import http_protocol
    from daphne.server import Server

    import proctor.asgi  # noqa: F401  (installs the capped request in Daphne)

    server = Server(application=application, endpoints=["tcp:port=0:interface=127.0.0.1"], signal_handlers=False)
    server.connections = {}  # what Server.run() starts with; the test feeds bytes instead of listening
    factory = http_protocol.HTTPFactory(server)
    channel = factory.buildProtocol(("127.0.0.1", 50000))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport, server.connections


def only_request(connections: dict[Any, Any]) -> Any:
    (request,) = connections  # Daphne registers each request it builds
    return request


@override_settings(INVIGIL_MAX_REQUEST_BYTES=LIMIT)
def test_daphne_refuses_a_declared_body_over_the_cap_as_soon_as_the_headers_arrive() -> None:
    channel, transport, connections = daphne_connection()
    channel.dataReceived(b"POST /api/probe/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1073741824\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.disconnecting
    channel.dataReceived(b"x" * 50_000)
    assert only_request(connections).content.getvalue() == b""


@override_settings(INVIGIL_MAX_REQUEST_BYTES=LIMIT)
def test_daphne_refuses_a_chunked_body_once_it_passes_the_cap_and_keeps_none_of_it() -> None:
    channel, transport, connections = daphne_connection()
    channel.dataReceived(b"POST /api/probe/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert transport.value() == b""
    piece = b"%x\r\n" % 40_000 + b"x" * 40_000 + b"\r\n"
    for _ in range(2):
        channel.dataReceived(piece)
    assert transport.value() == b""  # 80 kB: still within the cap
    channel.dataReceived(piece)
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.disconnecting
    assert only_request(connections).content.getvalue() == b""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers", [[(b"content-length", b"-5")], [(b"content-length", b"5"), (b"content-length", b"9")]]
)
async def test_a_malformed_content_length_is_refused_with_400(headers: list[tuple[bytes, bytes]]) -> None:
    communicator = ApplicationCommunicator(application, http_scope(probe_path(), headers))
    start = await communicator.receive_output(timeout=5)
    assert (start["type"], start["status"]) == ("http.response.start", 400)
    await communicator.receive_output(timeout=5)
    await communicator.wait(timeout=5)
