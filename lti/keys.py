"""Invigil's own LTI signing keys: made, rotated, published as a key set, and used to sign every JWT Invigil
sends to an LMS (deep-linking responses, LtiStartAssessment, client assertions for the token endpoint).

Each private key is sealed under its own data key (proctor.keys), which the master key ring protects, so
it is never stored in clear and master-key rotation re-wraps it like any other data key.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lti.models import ToolKey
from proctor import crypto
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keys import data_key_create, data_key_destroy, data_key_material

ALGORITHM = "RS256"
RSA_BITS = 2048
#: How long a retired key stays in the key set: platforms cache key sets for hours at most, and every
#: token Invigil signs lives for minutes.
RETIRED_KEY_GRACE = timedelta(days=7)


def tool_key_create() -> ToolKey:
    """A fresh RSA key pair: the private half sealed under a new data key, the public half as a JWK."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = secrets.token_urlsafe(16)
    public_jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    key = ToolKey(kid=kid, public_jwk=public_jwk)
    key.data_key = data_key_create(purpose="lti_tool_key", due_at=None)
    key.private_key_sealed = crypto.seal(data_key_material(key.data_key), label=key.label, plaintext=pem)
    key.save(force_insert=True)
    return key


def signing_key() -> ToolKey:
    """The newest key not retired; the first one is made on first use."""
    key = ToolKey.objects.filter(retired_at__isnull=True).order_by("-created_at", "-pk").first()
    if key is not None:
        return key
    with transaction.atomic():
        return tool_key_create()


def published_keys(*, now: datetime | None = None) -> list[ToolKey]:
    """Every key the key set lists: the signing key and those retired less than the grace period ago."""
    since = (now or timezone.now()) - RETIRED_KEY_GRACE
    keys = ToolKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gte=since))
    return list(keys.order_by("-created_at", "-pk"))


def key_set() -> dict[str, list[dict[str, Any]]]:
    """The JWKS document for GET /lti/jwks/: public keys only."""
    signing_key()
    return {"keys": [dict(key.public_jwk) for key in published_keys()]}


def sign(claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
    """A compact JWT of ``claims``, signed RS256 by the current signing key and naming it (kid)."""
    key = signing_key()
    pem = crypto.open_sealed(data_key_material(key.data_key), label=key.label, ciphertext=bytes(key.private_key_sealed))
    # The sealed bytes are authenticated, so this is the key tool_key_create made and checked; checking it
    # again on every load would cost some 40 ms of CPU per signature.
    private_key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={**(headers or {}), "kid": key.kid})


def tool_keys_rotate(*, now: datetime | None = None) -> ToolKey:
    """Make a new signing key, retire the ones before it, and delete (crypto-shred) those retired longer
    than RETIRED_KEY_GRACE ago. Returns the new key."""
    now = now or timezone.now()
    with transaction.atomic():
        retiring = list(
            ToolKey.objects.select_for_update().filter(retired_at__isnull=True).values_list("kid", flat=True)
        )
        new_key = tool_key_create()
        ToolKey.objects.filter(kid__in=retiring).update(retired_at=now)
        expired = list(ToolKey.objects.filter(retired_at__lt=now - RETIRED_KEY_GRACE))
        for key in expired:
            key.delete()
            data_key_destroy(data_key=key.data_key)
        audit_record(
            actor=None,
            action=AuditAction.LTI_KEYS_ROTATE,
            detail={"new": new_key.kid, "retired": retiring, "deleted": [key.kid for key in expired]},
        )
    return new_key
