"""Writes to identity: enrol a face, store a photo ID, verify 1:1, request a manual check.

The only code in this app that encrypts or decrypts; keys come from proctor.keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from identity import faces
from identity.models import IdentityCheck, IdentityCheckKind, IdentityProfile
from proctor import crypto
from proctor.attestations import identity_attest
from proctor.audit import audit_record
from proctor.keys import data_key_create, data_key_destroy, data_key_material, data_keys_forget

MAX_IMAGE_BYTES = 3 * 1024 * 1024


def _template_label(profile: IdentityProfile) -> bytes:
    return f"identity:{profile.pk}:template".encode()


def template_open(profile: IdentityProfile) -> np.ndarray:
    """Decrypt an enrolled profile's face template. Callers check it is enrolled, and audit the read."""
    if profile.template_sealed is None:
        raise ValueError("This profile holds no face template.")
    return faces.template_from_bytes(
        crypto.open_sealed(
            data_key_material(profile.data_key),
            label=_template_label(profile),
            ciphertext=bytes(profile.template_sealed),
        )
    )


def _id_photo_label(profile: IdentityProfile) -> bytes:
    return f"identity:{profile.pk}:id-photo".encode()


def id_photo_open(profile: IdentityProfile) -> bytes:
    """Decrypt a profile's stored photo ID. Callers check there is one, and audit the read."""
    if not profile.id_photo_name:
        raise ValueError("This profile holds no photo ID.")
    with default_storage.open(profile.id_photo_name, "rb") as sealed:
        ciphertext = sealed.read()
    return crypto.open_sealed(
        data_key_material(profile.data_key), label=_id_photo_label(profile), ciphertext=ciphertext
    )


def _profile_for(user: Any) -> IdentityProfile:
    profile = IdentityProfile.objects.select_related("data_key").filter(user=user).first()
    if profile is None:
        profile = IdentityProfile.objects.create(user=user, data_key=data_key_create(purpose="identity"))
    return profile


def _images(frames: list[bytes]) -> list[Any]:
    if any(len(frame) > MAX_IMAGE_BYTES for frame in frames):
        raise faces.FaceProblem("A picture was too large.")
    return [faces.image_from_bytes(frame) for frame in frames]


@transaction.atomic
def identity_enrol(*, user: Any, frames: list[bytes], request: Any = None) -> IdentityProfile:
    """Compute the face template from several webcam frames and keep only the template, sealed."""
    if not 3 <= len(frames) <= 10:
        raise faces.FaceProblem("Enrolment needs between 3 and 10 pictures.")
    existing = IdentityProfile.objects.filter(user=user, template_sealed__isnull=False).exists()
    if existing:
        # Otherwise anyone holding the student's session could enrol their own face, then pass.
        raise faces.FaceProblem("You are already enrolled. To enrol again, delete your identity profile first.")
    template = faces.face_template(_images(frames))
    profile = _profile_for(user)
    key = data_key_material(profile.data_key)
    profile.template_sealed = crypto.seal(
        key, label=_template_label(profile), plaintext=faces.template_to_bytes(template)
    )
    profile.enrolled_at = profile.last_used_at = timezone.now()
    profile.save(update_fields=["template_sealed", "enrolled_at", "last_used_at"])
    audit_record(actor=user, action="identity.enrol", target=profile, request=request, detail={"model": faces.MODEL})
    return profile


@transaction.atomic
def identity_store_id_photo(*, user: Any, photo: bytes, request: Any = None) -> IdentityProfile:
    if len(photo) > MAX_IMAGE_BYTES:
        raise faces.FaceProblem("The picture was too large.")
    faces.image_from_bytes(photo)  # refuse what is not a picture before storing anything
    profile = _profile_for(user)
    if profile.id_photo_name:
        raise faces.FaceProblem("Your photo ID is already stored. To replace it, delete your identity profile first.")
    sealed = crypto.seal(data_key_material(profile.data_key), label=_id_photo_label(profile), plaintext=photo)
    profile.id_photo_name = default_storage.save(f"identity/{profile.pk}/id-photo.sealed", ContentFile(sealed))
    profile.id_photo_at = timezone.now()
    profile.save(update_fields=["id_photo_name", "id_photo_at"])
    audit_record(actor=user, action="identity.id_photo", target=profile, request=request)
    return profile


def identity_profile_erase(
    *,
    user_id: Any,
    actor: Any,
    action: str,
    keep: Callable[[IdentityProfile], bool] | None = None,
    detail: dict[str, Any] | None = None,
    request: Any = None,
) -> bool:
    """Erase a user's identity profile (face template and photo ID) and the face checks made with it.

    In an order that is safe to stop at any point and run again: first the data key is destroyed
    (from then on the sealed template and photo are noise, in any copy of the storage too), then the
    stored photo is deleted, then the rows, with an audit entry under ``action``. ``keep`` is asked
    under the profile's lock whether it must stay after all. False when there was no profile, when
    ``keep`` kept it, or when another run finished the erasure meanwhile.
    """
    with transaction.atomic():
        profile = (
            IdentityProfile.objects.select_for_update()
            .select_related("data_key", "user")
            .filter(user_id=user_id)
            .first()
        )
        if profile is None or (keep is not None and keep(profile)):
            return False
        data_key_destroy(data_key=profile.data_key)
    if profile.id_photo_name:
        default_storage.delete(profile.id_photo_name)  # one already gone (a killed run got there) is fine
    with transaction.atomic():
        if not IdentityProfile.objects.select_for_update().filter(pk=profile.pk).exists():
            return False
        checks, _ = IdentityCheck.objects.filter(user_id=user_id).delete()
        IdentityProfile.objects.filter(pk=profile.pk).delete()
        data_keys_forget([profile.data_key_id])
        audit_record(
            actor=actor,
            action=action,
            target=profile.user,
            request=request,
            detail={
                **(detail or {}),
                "face_template": profile.template_sealed is not None,
                "id_photo": bool(profile.id_photo_name),
                "face_checks": checks,
            },
        )
    return True


def identity_verify(
    *, user: Any, frame: bytes, reference: str, request: Any = None
) -> tuple[IdentityCheck, str | None]:
    """Compare one webcam frame with this user's template (1:1 only). Returns the recorded check and,
    when it matched, an attestation for the exam flow."""
    profile = IdentityProfile.objects.select_related("data_key").filter(user=user).first()
    if profile is None or profile.template_sealed is None:
        raise faces.FaceProblem("Enrol your face first.")
    template = template_open(profile)
    problem, match = "", None
    try:
        match = faces.face_verify(template, _images([frame])[0])
    except faces.FaceProblem as exc:
        problem = str(exc)
    with transaction.atomic():
        check = IdentityCheck.objects.create(
            user=user,
            kind=IdentityCheckKind.FACE_MATCH,
            reference=reference[:64],
            model=faces.MODEL,
            distance=match.distance if match else None,
            threshold=match.threshold if match else None,
            matched=match.matched if match else False,
            problem=problem[:200],
        )
        IdentityProfile.objects.filter(pk=profile.pk).update(last_used_at=timezone.now())
        audit_record(
            actor=user,
            action="identity.verify",
            target=check,
            request=request,
            detail={"matched": check.matched, "distance": check.distance},
        )
    if problem:
        raise faces.FaceProblem(problem)
    token = identity_attest(user_id=user.pk, reference=reference, method="face_match") if check.matched else None
    return check, token


@transaction.atomic
def identity_request_manual_check(*, user: Any, reference: str, request: Any = None) -> tuple[IdentityCheck, str]:
    """The student asks a person to check their identity instead (after failed matches, or by choice)."""
    check = IdentityCheck.objects.create(user=user, kind=IdentityCheckKind.MANUAL_REQUEST, reference=reference[:64])
    audit_record(actor=user, action="identity.manual_request", target=check, request=request)
    return check, identity_attest(user_id=user.pk, reference=reference, method="manual_request")
