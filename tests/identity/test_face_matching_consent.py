"""Consent to face matching, apart from consent to being recorded: no template is made or read without
it, declining or withdrawing destroys the template for good, and the photo ID is kept only while a
person may need it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from identity.consent import BiometricConsentRequired, biometric_consent_in_force, biometric_notice_current
from identity.faces import FaceProblem
from identity.models import BiometricConsent, BiometricNotice, IdentityCheck, IdentityProfile
from identity.selectors import identity_has_template, identity_template
from identity.services import (
    ManualCheckError,
    biometric_consent_answer,
    biometric_consent_withdraw,
    id_photo_open,
    identity_enrol,
    identity_manual_check_state,
    identity_manual_decide,
    identity_request_manual_check,
    identity_store_id_photo,
    identity_verify,
    template_open,
)
from proctor import crypto
from proctor.attestations import identity_attestation_method
from proctor.keys import data_key_material
from proctor.models import AuditEvent, DataKey
from tests.factories import UserFactory
from tests.identity.test_identity_api import jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def student() -> Any:
    return UserFactory(username="barack")


def agree(user: Any) -> BiometricConsent:
    notice = biometric_notice_current()
    assert notice is not None
    return biometric_consent_answer(user=user, notice_version=notice.version, agreed=True)


def enrolled(user: Any) -> IdentityProfile:
    agree(user)
    return identity_enrol(user=user, frames=[jpeg("obama.jpg")] * 3)


def every_key_opens(sealed: bytes, label: bytes) -> bool:
    """Whether any data key still wrapped in the database opens ``sealed``: after a destruction, none."""
    for key in DataKey.objects.filter(wrapped__isnull=False):
        material = data_key_material(key)
        try:
            crypto.open_sealed(material, label=label, ciphertext=sealed)
        except crypto.DecryptionError:
            continue
        return True
    return False


def test_without_agreement_no_template_is_made(student: Any) -> None:
    with pytest.raises(BiometricConsentRequired):
        identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    assert not IdentityProfile.objects.filter(template_sealed__isnull=False).exists()


def test_an_agreement_records_the_version_the_exact_text_and_when(student: Any) -> None:
    answer = agree(student)
    notice = BiometricNotice.objects.get()
    assert (answer.notice_version, answer.decision, answer.withdrawn_at) == (notice.version, "agreed", None)
    assert answer.notice_sha256 == hashlib.sha256(notice.text.encode()).hexdigest()
    assert answer.at is not None
    event = AuditEvent.objects.get(action="identity.biometric_consent")
    assert event.detail["decision"] == "agreed"


def test_an_answer_to_a_version_no_longer_shown_is_refused_and_records_nothing(student: Any) -> None:
    notice = biometric_notice_current()
    assert notice is not None
    BiometricNotice.objects.create(
        version=notice.version + 1, text="A newer notice.", effective_from=notice.effective_from
    )
    with pytest.raises(BiometricConsentRequired, match="changed to version 2"):
        biometric_consent_answer(user=student, notice_version=notice.version, agreed=True)
    assert not BiometricConsent.objects.exists()


def test_a_template_made_before_the_agreement_rules_is_not_read_without_one(student: Any) -> None:
    profile = enrolled(student)
    # As if the template predated separate consent: the latest answer is withdrawn without erasing.
    BiometricConsent.objects.update(decision="declined")
    assert IdentityProfile.objects.get(pk=profile.pk).template_sealed is not None

    assert not identity_has_template(user_id=student.pk)
    assert identity_template(user_id=student.pk, purpose="analysis") is None
    assert not AuditEvent.objects.filter(action="identity.template_read").exists()
    with pytest.raises(BiometricConsentRequired):
        identity_verify(user=student, frame=jpeg("obama2.jpg"), reference="s")
    assert not IdentityCheck.objects.exists()


def test_with_agreement_the_template_is_read_for_its_purpose_and_audited(student: Any) -> None:
    enrolled(student)
    assert identity_has_template(user_id=student.pk)
    assert identity_template(user_id=student.pk, purpose="analysis", reference="s1") is not None
    assert AuditEvent.objects.get(action="identity.template_read").detail == {"purpose": "analysis", "reference": "s1"}


def test_withdrawing_destroys_the_template_for_every_copy_and_keeps_the_photo_id(student: Any) -> None:
    profile = enrolled(student)
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    profile.refresh_from_db()
    sealed_template = bytes(profile.template_sealed)
    old_key = profile.data_key_id
    old_photo = Path(settings.MEDIA_ROOT, profile.id_photo_name)
    copied_photo = old_photo.read_bytes()  # as a backup of the storage would hold it

    biometric_consent_withdraw(user=student)

    profile.refresh_from_db()
    assert profile.template_sealed is None
    assert profile.enrolled_at is None
    assert profile.data_key_id != old_key
    assert not DataKey.objects.filter(pk=old_key).exists()
    # Neither the template nor the old photo file, copied before, opens under any key still held.
    assert not every_key_opens(sealed_template, f"identity:{profile.pk}:template".encode())
    assert not every_key_opens(copied_photo, f"identity:{profile.pk}:id-photo".encode())
    # The photo ID stays readable for a person to check, under the fresh key.
    assert id_photo_open(profile) == jpeg("obama2.jpg")
    assert not biometric_consent_in_force(user_id=student.pk)
    assert BiometricConsent.objects.get().withdrawn_at is not None
    assert AuditEvent.objects.get(action="identity.biometric_withdraw").detail["template_erased"] is True
    with pytest.raises(BiometricConsentRequired):
        identity_verify(user=student, frame=jpeg("obama2.jpg"), reference="s")


def test_withdrawing_without_an_agreement_in_force_is_refused_and_changes_nothing(student: Any) -> None:
    with pytest.raises(BiometricConsentRequired, match="no agreement"):
        biometric_consent_withdraw(user=student)
    assert not AuditEvent.objects.filter(action="identity.biometric_withdraw").exists()


def test_declining_after_enrolling_destroys_the_template(student: Any) -> None:
    profile = enrolled(student)
    sealed_template, old_key = bytes(profile.template_sealed), profile.data_key
    notice = biometric_notice_current()
    assert notice is not None
    biometric_consent_answer(user=student, notice_version=notice.version, agreed=False)
    profile.refresh_from_db()
    assert profile.template_sealed is None
    assert not DataKey.objects.filter(pk=old_key.pk, wrapped__isnull=False).exists()
    assert not every_key_opens(sealed_template, f"identity:{profile.pk}:template".encode())
    with pytest.raises(ValueError, match="no face template"):
        template_open(profile)


def test_a_student_who_declines_is_checked_by_a_person_and_no_template_ever_exists(student: Any) -> None:
    notice = biometric_notice_current()
    assert notice is not None
    biometric_consent_answer(user=student, notice_version=notice.version, agreed=False)
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    check, attestation = identity_request_manual_check(user=student, reference="session-1")
    reviewer = UserFactory(username="reviewer")
    # A request proves nothing: no attestation until a person has confirmed it.
    assert attestation is None
    assert identity_manual_check_state(user=student, reference="session-1") == (check, None)

    decided = identity_manual_decide(
        check_id=check.pk, actor=reviewer, confirmed=True, reason="Card name and photo match the class list."
    )

    state, attestation = identity_manual_check_state(user=student, reference="session-1")
    assert state == check
    assert identity_attestation_method(attestation or "", user_id=student.pk, reference="session-1") == (
        "manual_confirmed"
    )
    # Asking again after the confirmation files nothing new and gives a fresh attestation.
    again, token = identity_request_manual_check(user=student, reference="session-1")
    assert (again, IdentityCheck.objects.count()) == (check, 1)
    assert identity_attestation_method(token or "", user_id=student.pk, reference="session-1") == "manual_confirmed"
    assert (decided.decision, decided.matched, decided.decided_by, decided.decision_reason) == (
        "confirmed",
        True,
        reviewer,
        "Card name and photo match the class list.",
    )
    event = AuditEvent.objects.get(action="identity.manual_decide")
    assert (event.actor_id, event.detail["decision"]) == (reviewer.pk, "confirmed")
    profile = IdentityProfile.objects.get(user=student)
    assert profile.template_sealed is None
    assert profile.id_photo_name == ""
    assert not AuditEvent.objects.filter(action="identity.template_read").exists()


def test_a_manual_decision_needs_a_reason_and_a_pending_check_and_bad_input_changes_nothing(student: Any) -> None:
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    check, _ = identity_request_manual_check(user=student, reference="session-1")
    reviewer = UserFactory(username="reviewer")
    for reason, message in (("   ", "Say why"), ("x" * 2001, "under 2,000")):
        with pytest.raises(ManualCheckError, match=message):
            identity_manual_decide(check_id=check.pk, actor=reviewer, confirmed=False, reason=reason)
    check.refresh_from_db()
    assert (check.decision, check.decided_by) == ("pending", None)
    assert IdentityProfile.objects.get(user=student).id_photo_name
    identity_manual_decide(check_id=check.pk, actor=reviewer, confirmed=False, reason="The card shows someone else.")
    with pytest.raises(ManualCheckError, match="already decided"):
        identity_manual_decide(check_id=check.pk, actor=reviewer, confirmed=True, reason="Changed my mind.")
    assert IdentityCheck.objects.get(pk=check.pk).decision == "rejected"


def test_a_rejected_student_sees_the_reason_and_asks_again_with_a_new_photo_id(student: Any) -> None:
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    first, _ = identity_request_manual_check(user=student, reference="session-1")
    identity_manual_decide(check_id=first.pk, actor=UserFactory(), confirmed=False, reason="The card is unreadable.")

    state, attestation = identity_manual_check_state(user=student, reference="session-1")
    assert state is not None
    assert (state.decision, state.decision_reason, attestation) == ("rejected", "The card is unreadable.", None)
    # The photo ID was deleted at the decision: a new request needs a new picture, and changes nothing without.
    with pytest.raises(ManualCheckError, match="photo ID first"):
        identity_request_manual_check(user=student, reference="session-1")
    assert IdentityCheck.objects.count() == 1
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    second, attestation = identity_request_manual_check(user=student, reference="session-1")
    assert (second.decision, attestation) == ("pending", None)
    assert second != first
    assert identity_manual_check_state(user=student, reference="session-1") == (second, None)


def test_the_photo_id_is_kept_while_another_manual_check_waits(student: Any) -> None:
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    first, _ = identity_request_manual_check(user=student, reference="session-1")
    identity_request_manual_check(user=student, reference="session-2")
    identity_manual_decide(check_id=first.pk, actor=UserFactory(), confirmed=True, reason="Matches.")
    assert IdentityProfile.objects.get(user=student).id_photo_name


def test_a_face_match_done_deletes_the_photo_id_nothing_waits_for(student: Any) -> None:
    enrolled(student)
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    check, attestation = identity_verify(user=student, frame=jpeg("obama2.jpg"), reference="s")
    assert check.matched
    assert attestation
    assert IdentityProfile.objects.get(user=student).id_photo_name == ""
    # The template survives the photo's removal, under the fresh key.
    assert identity_template(user_id=student.pk, purpose="analysis") is not None


def test_a_manual_check_without_a_photo_id_is_refused(student: Any) -> None:
    with pytest.raises(ManualCheckError, match="photo ID first"):
        identity_request_manual_check(user=student, reference="session-1")
    assert not IdentityCheck.objects.exists()


def test_a_face_problem_still_needs_agreement_first(student: Any) -> None:
    # The refusal comes before any picture is even looked at.
    with pytest.raises(BiometricConsentRequired):
        identity_enrol(user=student, frames=[b"junk"])
    agree(student)
    with pytest.raises(FaceProblem):
        identity_enrol(user=student, frames=[b"junk"])
