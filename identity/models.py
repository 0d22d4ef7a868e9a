"""User accounts, identity profiles, consent to face matching, and identity checks.

Personal data: name, email and username, kept while the account exists. Face templates and ID
photos (identity profiles) are purged 365 days after their last use; a photo ID as soon as the check
it was for is done.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator
from django.db import models


class User(AbstractUser):
    """A person who signs in: student, instructor, reviewer or admin.

    The role in a course comes from the course membership; "admin" (privacy officer) is
    ``is_superuser``. Email is the password-reset address.
    """

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username


class IdentityProfile(models.Model):
    """A student's face template and photo ID, both encrypted under the profile's own data key.

    Personal data: biometric (the 128-number face template) and the ID photo. No raw webcam frame is
    kept. Purged 365 days after last use by default, and deletable by the student outside an exam.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="identity_profile")
    data_key = models.OneToOneField("proctor.DataKey", on_delete=models.PROTECT, related_name="+", editable=False)
    template_sealed = models.BinaryField(null=True, editable=False)
    id_photo_name = models.CharField(max_length=255, blank=True, editable=False)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    id_photo_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Identity profile of {self.user}"

    @property
    def enrolled(self) -> bool:
        return self.template_sealed is not None


class BiometricNotice(models.Model):
    """One version of the notice a student reads before agreeing to face matching, apart from the
    consent to being recorded. Versions are rows; the highest version in effect is shown. A version
    students have answered is kept unchanged, since their answers point at it. No personal data."""

    version = models.PositiveIntegerField(unique=True, validators=[MinValueValidator(1)])
    text = models.TextField(help_text="Shown to the student in full before they agree to face matching or decline it.")
    effective_from = models.DateField(help_text="Students are asked about this version from this day.")

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"Face-matching notice v{self.version}"


class BiometricDecision(models.TextChoices):
    AGREED = "agreed", "Agreed to face matching"
    DECLINED = "declined", "Declined face matching"


class BiometricConsent(models.Model):
    """A student's answer to one version of the face-matching notice, and its withdrawal.

    Personal data: the decision, when, and the hash of the exact notice text shown; kept while the
    account exists, as the proof that no template was made or read without agreement.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="biometric_consents")
    notice = models.ForeignKey(BiometricNotice, on_delete=models.PROTECT, related_name="answers")
    notice_version = models.PositiveIntegerField(help_text="The version the student read, as shown to them.")
    notice_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the exact notice text shown.")
    decision = models.CharField(max_length=10, choices=BiometricDecision.choices)
    at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} (v{self.notice_version}) by {self.user}"

    @property
    def in_force(self) -> bool:
        return self.decision == BiometricDecision.AGREED and self.withdrawn_at is None


class IdentityCheckKind(models.TextChoices):
    FACE_MATCH = "face_match", "Face match"
    MANUAL_REQUEST = "manual_request", "Manual check requested"


class ManualDecision(models.TextChoices):
    PENDING = "pending", "Waiting for a person"
    CONFIRMED = "confirmed", "Identity confirmed"
    REJECTED = "rejected", "Identity not confirmed"


class IdentityCheck(models.Model):
    """One attempt to confirm a student's identity: a 1:1 face comparison, or a request for a person
    to compare the student's photo ID with the roster, which staff decide with a reason.
    ``reference`` names what it was for (an exam session id) without this app knowing exams.

    Personal data: the result and distance, or the person's decision and reason; kept with the profile.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identity_checks")
    kind = models.CharField(max_length=20, choices=IdentityCheckKind.choices)
    reference = models.CharField(max_length=64, blank=True)
    distance = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    matched = models.BooleanField(null=True)
    problem = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=10, choices=ManualDecision.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user} at {self.at:%Y-%m-%d %H:%M}"
