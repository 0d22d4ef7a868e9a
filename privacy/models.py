"""Legal holds: a session whose data must be kept past its retention period, and why.

A hold is set by an admin with a reason, and lifted the same way; both are kept. While a session has
a hold that is not lifted, the retention purge leaves its recordings, and its student's identity
profile, alone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from exams.models import ExamSession


class LegalHold(models.Model):
    session = models.ForeignKey(ExamSession, on_delete=models.PROTECT, related_name="legal_holds")
    reason = models.TextField(help_text="Why the data must be kept, e.g. the case or request it is kept for.")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    set_at = models.DateTimeField(default=timezone.now, editable=False)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True, editable=False)
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-set_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"], condition=models.Q(lifted_at__isnull=True), name="one_standing_hold_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"Hold on {self.session_id} ({'lifted' if self.lifted_at else 'standing'})"
