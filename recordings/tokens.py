"""The per-session token a student's exam page presents when it opens the recording socket.

A signed value binding session and student, so the socket needs the session cookie *and* a token that
only the exam page of that student's own session was given.
"""

from __future__ import annotations

from typing import Any

from django.core import signing

SALT = "invigil.recordings.stream"
MAX_AGE_SECONDS = 36 * 3600


def stream_token_for(*, session_id: Any, user_id: int) -> str:
    return signing.dumps({"s": str(session_id), "u": user_id}, salt=SALT, compress=True)


def stream_token_valid(token: str, *, session_id: Any, user_id: int) -> bool:
    try:
        value = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return False
    return isinstance(value, dict) and value.get("s") == str(session_id) and value.get("u") == user_id
