"""User accounts.

Personal data: name, email and username, kept while the account exists. Face templates and ID
photos (identity profiles) arrive with the identity-check work and are purged 365 days after their
last use.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
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


class IdentityCheckKind(models.TextChoices):
    FACE_MATCH = "face_match", "Face match"
    MANUAL_REQUEST = "manual_request", "Manual check requested"


class IdentityCheck(models.Model):
    """One attempt to confirm a student's identity: a 1:1 face comparison or a request for a person
    to check. ``reference`` names what it was for (an exam session id) without this app knowing exams.

    Personal data: the result and distance; kept with the profile.
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

    class Meta:
        ordering = ["user", "-at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user} at {self.at:%Y-%m-%d %H:%M}"
