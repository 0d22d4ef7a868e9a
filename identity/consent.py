"""Whether a student agreed to face matching: the one answer every template write and read asks.

Reads only, of rows that hold no biometric data; the writes are in identity.services.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.utils import timezone

from identity.models import BiometricConsent, BiometricNotice
from proctor.errors import Conflict

NO_NOTICE = "Face matching is not offered here: no face-matching notice is in effect. A person can check your photo ID."
NOT_AGREED = (
    "You have not agreed to face matching, so no face template is made or read. "
    "Agree to it first, or ask for a person to check your photo ID instead."
)


#: The first face-matching notice, made when there is none, so face matching can be offered at all; an
#: institution adds versions of its own in the admin.
FIRST_NOTICE = (
    "Face matching is optional. If you agree, Invigil makes a face template (128 numbers computed from "
    "pictures of your face) when you enrol, and compares the face in your webcam with it, and with no one "
    "else's, to confirm it is you at the start of an exam and while you are recorded. The template is "
    "encrypted, kept on the institution's own servers, shared with no one, and deleted 365 days after it was "
    "last used, or at once when you withdraw this agreement on your My data page. The comparison decides "
    "nothing by itself: people review every flag. If you decline, a person checks your photo ID against the "
    "class list instead, and you lose nothing by declining."
)
FIRST_NOTICE_FROM = datetime.date(2020, 1, 1)


class BiometricConsentRequired(Conflict):
    """A face template would be made or read without the student's agreement in force."""


def biometric_notice_current() -> BiometricNotice | None:
    """The face-matching notice students are asked about today: the highest version in effect (the first
    notice is made when there is none at all)."""
    if not BiometricNotice.objects.exists():
        BiometricNotice.objects.get_or_create(
            version=1, defaults={"text": FIRST_NOTICE, "effective_from": FIRST_NOTICE_FROM}
        )
    return BiometricNotice.objects.filter(effective_from__lte=timezone.localdate()).order_by("-version").first()


def notice_sha256(notice: BiometricNotice) -> str:
    """The hash of the exact text of a notice, stored with every answer to it."""
    return hashlib.sha256(notice.text.encode()).hexdigest()


def biometric_consent_latest(*, user_id: Any) -> BiometricConsent | None:
    """The student's latest answer about face matching, withdrawn or not; None when never asked."""
    return BiometricConsent.objects.filter(user_id=user_id).select_related("notice").order_by("-at", "-id").first()


def biometric_consent_in_force(*, user_id: Any) -> bool:
    """Whether the student's latest answer is an agreement they have not withdrawn."""
    latest = biometric_consent_latest(user_id=user_id)
    return latest is not None and latest.in_force


def biometric_consent_require(*, user_id: Any) -> None:
    """Raise BiometricConsentRequired unless the student's agreement to face matching is in force."""
    if not biometric_consent_in_force(user_id=user_id):
        raise BiometricConsentRequired(NOT_AGREED)
