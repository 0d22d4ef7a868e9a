"""Carrying a person out of the LMS's frame. A page inside the LMS's frame gets no SameSite=Lax session
cookie, and Invigil's exam pages need a window of their own (camera and screen capture are not allowed in
a cross-site frame), so such a page offers a button that opens a new window and signs the person in
there. The button posts a handover: signed by Invigil, naming the person and the page to open, valid for
HANDOVER_LIFETIME and only once."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from lti.errors import LaunchInvalid
from lti.models import UsedNonce

#: Long enough to read the page and choose (the deep-linking page offers one too).
HANDOVER_LIFETIME = timedelta(minutes=30)
_SALT = "lti.handover"


@dataclass(frozen=True)
class Handover:
    """Sign ``user`` in and open ``next_path`` (a path on this server)."""

    user: int
    platform: int
    next_path: str

    def dumps(self) -> str:
        return signing.dumps(asdict(self), salt=_SALT)


def handover_use(value: str) -> Handover:
    """The handover a button posted, used up; LaunchInvalid when altered, too old or used before."""
    try:
        handover = Handover(**signing.loads(value, salt=_SALT, max_age=HANDOVER_LIFETIME))
    except signing.SignatureExpired:
        raise LaunchInvalid(
            "This page is too old to open Invigil from. Start again from the LMS.", reason="handover_expired"
        ) from None
    except (signing.BadSignature, TypeError, ValueError):
        raise LaunchInvalid(
            "This button was not on Invigil's page. Start again from the LMS.", reason="handover_altered"
        ) from None
    if not handover.next_path.startswith("/") or handover.next_path.startswith("//"):
        raise LaunchInvalid("This button leads off Invigil.", reason="handover_altered")
    digest = hashlib.sha256(value.encode()).hexdigest()
    try:
        with transaction.atomic():
            UsedNonce.objects.create(
                platform_id=handover.platform,
                nonce=f"handover:{digest}",
                expires_at=timezone.now() + HANDOVER_LIFETIME,
            )
    except IntegrityError:
        raise LaunchInvalid(
            "This button was already used to open Invigil. Start again from the LMS.", reason="handover_reused"
        ) from None
    return handover
