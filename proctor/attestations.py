"""Signed, short-lived statements one app makes for another without importing it: "this user's
identity was confirmed just now, by this method". identity issues them; exams checks them."""

from __future__ import annotations

from typing import Any

from django.core import signing

IDENTITY_SALT = "invigil.attestation.identity"
MAX_AGE_SECONDS = 30 * 60
#: The methods an attestation may name: a 1:1 face match, or a manual check a person confirmed (a
#: request still waiting for a person proves nothing, so it has no attestation).
FACE_MATCH = "face_match"
MANUAL_CONFIRMED = "manual_confirmed"
METHODS = (FACE_MATCH, MANUAL_CONFIRMED)


def identity_attest(*, user_id: int, reference: str, method: str) -> str:
    return signing.dumps({"u": user_id, "r": reference, "m": method}, salt=IDENTITY_SALT)


def identity_attestation_method(token: str, *, user_id: int, reference: str) -> str | None:
    """The method (one of ``METHODS``) if the token is genuine, fresh, and about this
    user and reference; otherwise None."""
    try:
        value: Any = signing.loads(token, salt=IDENTITY_SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("u") != user_id or value.get("r") != reference:
        return None
    method = value.get("m")
    return method if method in METHODS else None
