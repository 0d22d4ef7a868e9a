"""A cap on HTTP request bodies, enforced before anything buffers them (413 past it), and Daphne's
WebSocket message limit set to what the recording socket needs.

Daphne (through Twisted) reads a whole body into memory or a temporary file before the application
sees a byte, and Django's ASGI handler then reads it all again; a cap in a view or in Django's
settings comes too late, and an anonymous client could make the server hold gigabytes. So the cap is
enforced twice: in Daphne's request as the headers and bytes arrive, and in an ASGI middleware for any
other server (and as a second line behind Daphne).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


def body_limit() -> int:
    """The largest request body accepted, in bytes (setting INVIGIL_MAX_REQUEST_BYTES)."""
    return int(settings.INVIGIL_MAX_REQUEST_BYTES)


def too_large_message(limit: int) -> bytes:
    return f"The request is too large: at most {limit // (1024 * 1024)} MiB may be sent.".encode()


class BodyLimitMiddleware:
    """ASGI middleware: 413 for a body declared or found to be over the limit, before the app reads it.

    A declared Content-Length over the limit is refused without reading a byte; a body without one
    (chunked) is counted as it arrives, and the app is told the client left once it passes the limit,
    so at most the limit is ever held."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit()
        declared = [value for name, value in scope.get("headers", []) if name.lower() == b"content-length"]
        if declared and (len(declared) > 1 or not declared[0].strip().isdigit()):
            await _respond(send, 400, b"The Content-Length header is malformed.")
            return
        if declared and int(declared[0]) > limit:
            await _respond(send, 413, too_large_message(limit))
            return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _respond(send, 413, too_large_message(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # the 413 has been sent; the app's own answer would be a second response
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_in_daphne() -> None:
    """Make Daphne's HTTP factory build requests that refuse an oversized body as it arrives.

    Daphne has no setting for this, and its factory names its request class at each connection, so
    replacing that name is the one hook there is. Without Daphne installed, nothing is done."""
    try:
        from daphne import http_protocol
    except ImportError:  # another ASGI server: the middleware alone stands
        return
    if getattr(http_protocol.WebRequest, "refuses_large_bodies", False):
        return

    class CappedWebRequest(http_protocol.WebRequest):
        """Daphne's request, refusing (413, connection closed) a body over the limit: a declared
        length at once, an undeclared one as soon as the bytes so far pass it. Nothing past the
        limit is kept."""

        refuses_large_bodies = True
        _body_refused = False
        _body_bytes = 0

        def gotLength(self, length: int | None) -> None:  # noqa: N802  (Twisted's name)
            if length is not None and length > body_limit():
                self._refuse_body()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802  (Twisted's name)
            if self._body_refused:
                return
            self._body_bytes += len(data)
            if self._body_bytes > body_limit():
                self._refuse_body()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:  # noqa: N802
            if not self._body_refused:
                super().requestReceived(command, path, version)

        def _refuse_body(self) -> None:
            self._body_refused = True
            self.content = io.BytesIO()  # whatever had been buffered goes
            body = too_large_message(body_limit())
            head = (
                b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            self.channel.transport.write(head + body)
            self.channel.transport.loseConnection()

    http_protocol.WebRequest = CappedWebRequest


def websocket_message_limit() -> int:
    """The largest WebSocket message Daphne passes on, in bytes (setting INVIGIL_MAX_WEBSOCKET_MESSAGE_BYTES)."""
    return int(settings.INVIGIL_MAX_WEBSOCKET_MESSAGE_BYTES)


def install_websocket_limit_in_daphne() -> None:
    """Make Daphne's WebSocket factory take messages up to our limit instead of its own 1 MiB.

    Past its limit autobahn closes the socket itself with 1009 and no message, before the application
    sees the frame: a recording chunk between 1 and 4 MiB was lost that way, and an oversized one never
    got the recording socket's own 4413. The server builds its factory when it starts, after loading
    the application, and names the class then, so replacing that name is the hook. The setting
    replaces Daphne's command-line values. Run by any other server, nothing is done (and Daphne's
    server module, which installs a Twisted reactor when imported, is not imported here)."""
    daphne_server = sys.modules.get("daphne.server")
    if daphne_server is None:
        return
    from daphne.ws_protocol import WebSocketFactory

    if getattr(daphne_server, "WebSocketFactory", None) is not WebSocketFactory:
        return  # already replaced

    class LimitedWebSocketFactory(WebSocketFactory):
        def setProtocolOptions(self, **options: Any) -> None:  # noqa: N802  (autobahn's name)
            limit = websocket_message_limit()
            super().setProtocolOptions(**{**options, "maxMessagePayloadSize": limit, "maxFramePayloadSize": limit})

    setattr(daphne_server, "WebSocketFactory", LimitedWebSocketFactory)  # noqa: B010  (a module mypy cannot see into)
