"""Reads of identity data that decrypt: each one is written to the audit log with its purpose."""

from __future__ import annotations

from typing import Any

import numpy as np

from identity.models import IdentityProfile
from identity.services import template_open
from proctor.audit import audit_record


def identity_template(*, user_id: Any, purpose: str, reference: str = "") -> np.ndarray | None:
    """The user's enrolled face template, or None when they never enrolled (or it was purged).

    Only for 1:1 comparison with the same user; the read is audited with its purpose.
    """
    profile = IdentityProfile.objects.select_related("data_key").filter(user_id=user_id).first()
    if profile is None or profile.template_sealed is None:
        return None
    template = template_open(profile)
    audit_record(
        actor=None, action="identity.template_read", target=profile, detail={"purpose": purpose, "reference": reference}
    )
    return template
