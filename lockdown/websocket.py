"""The recording socket of an exam that requires Safe Exam Browser, guarded as its pages are
(lockdown.guard). Installed around the WebSocket router by dotted path (proctor.routing), so the
recordings app need not know SEB exists.

SEB's classic web view adds its key headers to the upgrade request too; its modern web view sends
none, and the socket then relies on the exam page's verification remembered in the student's
signed-in session. Wrong headers are refused even then.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

from lockdown.guard import SebHashes, request_allowed, requirement_for_student
from lockdown.services import seb_refusal_record
from proctor.db import pooled_database_call
from recordings import protocol

#: The sockets a student uses while taking an exam, with the exam session's id.
GUARDED_SOCKETS = (re.compile(r"^/?ws/sessions/(?P<session_id>[0-9a-fA-F-]{36})/stream/$"),)

REFUSAL = "Open this exam in Safe Exam Browser with the exam's configuration file to record it."


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}


def _scheme(scope: dict[str, Any], headers: dict[str, str]) -> str:
    """ws or wss, as the browser connected. Daphne puts no scheme in a WebSocket's scope, even behind a TLS
    proxy; a page served over HTTPS can only open wss (browsers block ws from it), so its Origin tells, as
    does the proxy's X-Forwarded-Proto where Invigil is told to trust it (BEHIND_TLS_PROXY)."""
    if scope.get("scheme") in ("ws", "wss"):
        return str(scope["scheme"])
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and headers.get("x-forwarded-proto") == "https":
        return "wss"
    return "wss" if headers.get("origin", "").startswith("https://") else "ws"


def socket_url(scope: dict[str, Any]) -> str:
    """The absolute URL of the upgrade request, as the browser asked for it (and SEB hashed it)."""
    headers = _headers(scope)
    query = scope.get("query_string", b"").decode("latin-1")
    scheme = _scheme(scope, headers)
    return f"{scheme}://{headers.get('host', '')}{scope['path']}" + (f"?{query}" if query else "")


class SafeExamBrowserSocketGuard:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            for pattern in GUARDED_SOCKETS:
                match = pattern.match(scope["path"])
                if match and not await pooled_database_call(self.allowed)(scope, match["session_id"]):
                    await self.refuse(receive, send)
                    return None
        return await self.inner(scope, receive, send)

    def allowed(self, scope: dict[str, Any], session_id: str) -> bool:
        user = scope.get("user")
        requirement = requirement_for_student(session_id, user)
        if requirement is None:
            return True
        headers = _headers(scope)
        django_session = scope["session"]
        if request_allowed(
            requirement=requirement,
            url=socket_url(scope),
            hashes=SebHashes(
                config_key_hash=headers.get("x-safeexambrowser-configkeyhash", ""),
                request_hash=headers.get("x-safeexambrowser-requesthash", ""),
            ),
            django_session=django_session,
            session_id=session_id,
        ):
            if django_session.modified:
                django_session.save()
            return True
        seb_refusal_record(actor=user, session_id=session_id, path=scope["path"], via="socket")
        return False

    async def refuse(self, receive: Any, send: Any) -> None:
        # Accept first, as the consumer does: a close before accepting reaches the browser with no code.
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        closing = {"type": "closing", "code": protocol.CLOSE_FORBIDDEN, "message": REFUSAL}
        await send({"type": "websocket.send", "text": json.dumps(closing)})
        await send({"type": "websocket.close", "code": protocol.CLOSE_FORBIDDEN})
