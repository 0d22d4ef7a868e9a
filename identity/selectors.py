"""Reads of identity data that decrypt: each one is written to the audit log with its purpose."""

from __future__ import annotations

from typing import Any

import numpy as np

from identity.consent import biometric_consent_in_force
from identity.models import IdentityProfile
from identity.services import id_photo_open, template_open
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


def identity_template(
    *, user_id: Any, purpose: str, reference: str = "", actor: Any = None, request: Any = None
) -> np.ndarray | None:
    """The user's enrolled face template, or None when they never enrolled, it was purged, or their
    agreement to face matching is not in force (then nothing is decrypted).

    Only for 1:1 comparison with the same user; the read is audited with its purpose.
    """
    if not biometric_consent_in_force(user_id=user_id):
        return None
    profile = IdentityProfile.objects.select_related("data_key").filter(user_id=user_id).first()
    if profile is None or profile.template_sealed is None:
        return None
    template = template_open(profile)
    audit_record(
        actor=actor,
        action=AuditAction.TEMPLATE_READ,
        target=profile,
        request=request,
        detail={"purpose": purpose, "reference": reference},
    )
    return template


def identity_has_template(*, user_id: Any) -> bool:
    """Whether the user has an enrolled face template that may be used: their agreement to face
    matching is in force. A fact about the profile, not a read of the template (nothing is decrypted),
    so it is not an access to biometric data."""
    return (
        biometric_consent_in_force(user_id=user_id)
        and IdentityProfile.objects.filter(user_id=user_id, template_sealed__isnull=False).exists()
    )


def identity_id_photo(*, profile: IdentityProfile, purpose: str, actor: Any, request: Any = None) -> bytes:
    """The profile's photo ID, decrypted; the read is audited with who, why and from where. Callers
    check there is one."""
    photo = id_photo_open(profile)
    audit_record(
        actor=actor,
        action=AuditAction.ID_PHOTO_VIEW,
        target=profile,
        request=request,
        purpose=purpose,
        detail={"purpose": purpose},
    )
    return photo
