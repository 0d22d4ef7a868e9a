"""Writes to identity: answer and withdraw the face-matching consent, enrol a face, store a photo ID,
verify 1:1, request a manual check and decide it.

The only code in this app that encrypts or decrypts; keys come from proctor.keys. No face template is
made or read unless the student's agreement to face matching is in force (identity.consent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from identity import faces
from identity.consent import (
    NO_NOTICE,
    BiometricConsentRequired,
    biometric_consent_latest,
    biometric_consent_require,
    biometric_notice_current,
    notice_sha256,
)
from identity.models import (
    BiometricConsent,
    BiometricDecision,
    IdentityCheck,
    IdentityCheckKind,
    IdentityProfile,
    ManualDecision,
)
from proctor import crypto
from proctor.attestations import FACE_MATCH, MANUAL_CONFIRMED, identity_attest
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Unprocessable
from proctor.keys import data_key_create, data_key_destroy, data_key_material, data_keys_forget

MAX_IMAGE_BYTES = 3 * 1024 * 1024
MAX_REASON_CHARS = 2000


class ManualCheckError(Unprocessable):
    """A manual identity check cannot be requested or decided as asked; the message says why."""


class FaceRefused(Unprocessable, faces.FaceProblem):
    """A face step refused: the picture, or the state of the profile; the message says what to change.

    identity.faces stays pure (no Django, no proctor), so its FaceProblem becomes this refusal here."""


@contextmanager
def _face_refusals() -> Iterator[None]:
    try:
        yield
    except faces.FaceProblem as exc:
        if isinstance(exc, FaceRefused):
            raise
        raise FaceRefused(str(exc)) from exc


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


def _id_photo_name(profile: IdentityProfile) -> str:
    return f"identity/{profile.pk}/id-photo.sealed"


def _profile_drop(profile: IdentityProfile, *, template: bool = False, photo: bool = False) -> None:
    """Take the face template and/or the photo ID out of a profile so that nothing the database holds
    can bring them back: what stays is sealed again under a fresh data key and the old key is destroyed
    (the old photo file is deleted after commit). A database backup from before still holds the old
    wrapped key, readable until its retention-period key is destroyed (proctor.keystore). Call inside a
    transaction, with the profile locked."""
    old_key = profile.data_key
    material = data_key_material(old_key)
    kept_template = (
        None
        if template or profile.template_sealed is None
        else crypto.open_sealed(material, label=_template_label(profile), ciphertext=bytes(profile.template_sealed))
    )
    kept_photo = None if photo or not profile.id_photo_name else id_photo_open(profile)
    old_photo = profile.id_photo_name
    profile.data_key = data_key_create(purpose="identity", due_at=None)
    fresh = data_key_material(profile.data_key)
    profile.template_sealed = (
        crypto.seal(fresh, label=_template_label(profile), plaintext=kept_template) if kept_template else None
    )
    if kept_template is None:
        profile.enrolled_at = None
    if kept_photo is not None:
        sealed = crypto.seal(fresh, label=_id_photo_label(profile), plaintext=kept_photo)
        profile.id_photo_name = default_storage.save(_id_photo_name(profile), ContentFile(sealed))
    else:
        profile.id_photo_name, profile.id_photo_at = "", None
    profile.save(update_fields=["data_key", "template_sealed", "enrolled_at", "id_photo_name", "id_photo_at"])
    data_key_destroy(data_key=old_key)
    data_keys_forget([old_key.pk])
    if old_photo:
        transaction.on_commit(lambda: default_storage.delete(old_photo))


def _locked_profile(user_id: Any) -> IdentityProfile | None:
    return IdentityProfile.objects.select_for_update().select_related("data_key").filter(user_id=user_id).first()


@transaction.atomic
def biometric_consent_answer(*, user: Any, notice_version: int, agreed: bool, request: Any = None) -> BiometricConsent:
    """Record the student's answer to the face-matching notice in effect, exactly the version they read.
    Declining also removes any face template they had: for a student who declines, none exists."""
    notice = biometric_notice_current()
    if notice is None:
        raise BiometricConsentRequired(NO_NOTICE)
    if notice_version != notice.version:
        raise BiometricConsentRequired(
            f"The face-matching notice changed to version {notice.version} while you were reading it. "
            "Read it again, then answer."
        )
    answer = BiometricConsent.objects.create(
        user=user,
        notice=notice,
        notice_version=notice.version,
        notice_sha256=notice_sha256(notice),
        decision=BiometricDecision.AGREED if agreed else BiometricDecision.DECLINED,
    )
    dropped = False
    if not agreed:
        profile = _locked_profile(user.pk)
        if profile is not None and profile.template_sealed is not None:
            _profile_drop(profile, template=True)
            dropped = True
    audit_record(
        actor=user,
        action=AuditAction.BIOMETRIC_CONSENT,
        target=answer,
        request=request,
        detail={"decision": answer.decision, "version": notice.version, "template_erased": dropped},
    )
    return answer


@transaction.atomic
def biometric_consent_withdraw(*, user: Any, request: Any = None) -> BiometricConsent:
    """Withdraw the agreement to face matching: from now on no template is read, and the one made is
    destroyed at once (the photo ID, if any, stays for a person to check)."""
    latest = biometric_consent_latest(user_id=user.pk)
    if latest is None or not latest.in_force:
        raise BiometricConsentRequired("You have no agreement to face matching to withdraw.")
    latest.withdrawn_at = timezone.now()
    latest.save(update_fields=["withdrawn_at"])
    profile = _locked_profile(user.pk)
    dropped = profile is not None and profile.template_sealed is not None
    if profile is not None and dropped:
        _profile_drop(profile, template=True)
    audit_record(
        actor=user,
        action=AuditAction.BIOMETRIC_WITHDRAW,
        target=latest,
        request=request,
        detail={"version": latest.notice_version, "template_erased": dropped},
    )
    return latest


def _profile_for(user: Any) -> IdentityProfile:
    profile = IdentityProfile.objects.select_related("data_key").filter(user=user).first()
    if profile is None:
        # Identity knows no retention period (institutions belong to exams): the key goes into the current
        # month's period, and the retention job moves it to the period of its purge date at the month's end.
        profile = IdentityProfile.objects.create(user=user, data_key=data_key_create(purpose="identity", due_at=None))
    return profile


def _images(frames: list[bytes]) -> list[Any]:
    if any(len(frame) > MAX_IMAGE_BYTES for frame in frames):
        raise FaceRefused("A picture was too large.")
    with _face_refusals():
        return [faces.image_from_bytes(frame) for frame in frames]


@transaction.atomic
def identity_enrol(*, user: Any, frames: list[bytes], request: Any = None) -> IdentityProfile:
    """Compute the face template from several webcam frames and keep only the template, sealed."""
    biometric_consent_require(user_id=user.pk)
    if not 3 <= len(frames) <= 10:
        raise FaceRefused("Enrolment needs between 3 and 10 pictures.")
    existing = IdentityProfile.objects.filter(user=user, template_sealed__isnull=False).exists()
    if existing:
        # Otherwise anyone holding the student's session could enrol their own face, then pass.
        raise FaceRefused("You are already enrolled. To enrol again, delete your identity profile first.")
    with _face_refusals():
        template = faces.face_template(_images(frames))
    profile = _profile_for(user)
    key = data_key_material(profile.data_key)
    profile.template_sealed = crypto.seal(
        key, label=_template_label(profile), plaintext=faces.template_to_bytes(template)
    )
    profile.enrolled_at = profile.last_used_at = timezone.now()
    profile.save(update_fields=["template_sealed", "enrolled_at", "last_used_at"])
    audit_record(actor=user, action=AuditAction.ENROL, target=profile, request=request, detail={"model": faces.MODEL})
    return profile


@transaction.atomic
def identity_store_id_photo(*, user: Any, photo: bytes, request: Any = None) -> IdentityProfile:
    if len(photo) > MAX_IMAGE_BYTES:
        raise FaceRefused("The picture was too large.")
    with _face_refusals():
        faces.image_from_bytes(photo)  # refuse what is not a picture before storing anything
    profile = _profile_for(user)
    if profile.id_photo_name:
        raise FaceRefused("Your photo ID is already stored. To replace it, delete your identity profile first.")
    sealed = crypto.seal(data_key_material(profile.data_key), label=_id_photo_label(profile), plaintext=photo)
    profile.id_photo_name = default_storage.save(_id_photo_name(profile), ContentFile(sealed))
    profile.id_photo_at = timezone.now()
    profile.save(update_fields=["id_photo_name", "id_photo_at"])
    audit_record(actor=user, action=AuditAction.ID_PHOTO, target=profile, request=request)
    return profile


def identity_profile_erase(
    *,
    user_id: Any,
    actor: Any,
    action: AuditAction,
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
    biometric_consent_require(user_id=user.pk)
    profile = IdentityProfile.objects.select_related("data_key").filter(user=user).first()
    if profile is None or profile.template_sealed is None:
        raise FaceRefused("Enrol your face first.")
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
            action=AuditAction.VERIFY,
            target=check,
            request=request,
            detail={"matched": check.matched, "distance": check.distance},
        )
        if check.matched:
            _id_photo_done(user.pk)
    if problem:
        raise FaceRefused(problem)
    token = identity_attest(user_id=user.pk, reference=reference, method=FACE_MATCH) if check.matched else None
    return check, token


def _id_photo_done(user_id: Any) -> None:
    """The photo ID is kept only while a person may still need it: once a check is done and no manual
    check is waiting, it is destroyed. Call inside a transaction."""
    if IdentityCheck.objects.filter(
        user_id=user_id, kind=IdentityCheckKind.MANUAL_REQUEST, decision=ManualDecision.PENDING
    ).exists():
        return
    profile = _locked_profile(user_id)
    if profile is not None and profile.id_photo_name:
        _profile_drop(profile, photo=True)


def _manual_check_latest(user: Any, reference: str) -> IdentityCheck | None:
    return (
        IdentityCheck.objects.filter(user=user, kind=IdentityCheckKind.MANUAL_REQUEST, reference=reference[:64])
        .order_by("-at", "-id")
        .first()
    )


def _manual_attestation(user: Any, reference: str, check: IdentityCheck | None) -> str | None:
    """A fresh attestation once a person has confirmed the check; none while it waits or was rejected."""
    if check is None or check.decision != ManualDecision.CONFIRMED:
        return None
    return identity_attest(user_id=user.pk, reference=reference, method=MANUAL_CONFIRMED)


@transaction.atomic
def identity_request_manual_check(
    *, user: Any, reference: str, request: Any = None
) -> tuple[IdentityCheck, str | None]:
    """The student asks a person to compare their photo ID with the class list instead of face matching
    (by choice, or after failed matches). The photo ID must be stored first. The request waits in the
    staff's queue; the attestation that lets the student start comes only once a person confirmed it
    (None until then). Asking again while it waits, or after it was confirmed, returns the same check;
    after a rejection it files a new one (with a new photo ID: the old one is deleted at the decision)."""
    latest = _manual_check_latest(user, reference)
    if latest is not None and latest.decision in (ManualDecision.PENDING, ManualDecision.CONFIRMED):
        return latest, _manual_attestation(user, reference, latest)
    profile = IdentityProfile.objects.filter(user=user).first()
    if profile is None or not profile.id_photo_name:
        raise ManualCheckError("Take a picture of your photo ID first, so that a person can check it.")
    check = IdentityCheck.objects.create(
        user=user, kind=IdentityCheckKind.MANUAL_REQUEST, reference=reference[:64], decision=ManualDecision.PENDING
    )
    audit_record(actor=user, action=AuditAction.MANUAL_REQUEST, target=check, request=request)
    return check, None


def identity_manual_check_state(*, user: Any, reference: str) -> tuple[IdentityCheck | None, str | None]:
    """The student's latest manual check for ``reference`` (None if they asked for none) and, once a
    person confirmed it, a fresh attestation. What the exam page polls while the student waits."""
    check = _manual_check_latest(user, reference)
    return check, _manual_attestation(user, reference, check)


@transaction.atomic
def identity_manual_decide(
    *, check_id: Any, actor: Any, confirmed: bool, reason: str, request: Any = None
) -> IdentityCheck:
    """A person's decision on a manual identity check, with the reason, audited; then the photo ID is
    destroyed unless another manual check still needs it. The caller has authorised ``actor`` for the
    check's reference."""
    reason = reason.strip()
    if not reason:
        raise ManualCheckError("Say why: what you compared, and what you saw.")
    if len(reason) > MAX_REASON_CHARS:
        raise ManualCheckError(f"Keep the reason under {MAX_REASON_CHARS:,} characters.")
    check = IdentityCheck.objects.select_for_update().filter(pk=check_id, kind=IdentityCheckKind.MANUAL_REQUEST).first()
    if check is None:
        raise ManualCheckError("That identity check does not exist.")
    if check.decision != ManualDecision.PENDING:
        raise ManualCheckError(f"That check was already decided: {check.get_decision_display().lower()}.")
    check.decision = ManualDecision.CONFIRMED if confirmed else ManualDecision.REJECTED
    check.matched = confirmed
    check.decision_reason = reason
    check.decided_by = actor
    check.decided_at = timezone.now()
    check.save(update_fields=["decision", "matched", "decision_reason", "decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action=AuditAction.MANUAL_DECIDE,
        target=check,
        request=request,
        detail={"decision": check.decision, "reference": check.reference, "student": check.user_id},
    )
    _id_photo_done(check.user_id)
    return check
