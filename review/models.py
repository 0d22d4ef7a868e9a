"""What people decided: per flag, per session, and a student's appeal.

Append-only records of human judgement. A flag's current verdict is its latest decision; a session's
outcome is its status, moved only by exams.services.session_transition on a person's decision here.
Each row keeps the name of the person who made it as it was then, so the record stays readable if the
account is later removed. They go with the session when it is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from analysis.models import Flag
from exams.models import ExamSession


class Signed(models.Model):
    """A person's judgement: their note, who they were, under which name, and when."""

    note = models.TextField()
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reviewer_name = models.CharField(max_length=300)
    decided_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True


class Verdict(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    DISMISSED = "dismissed", "Dismissed"


class FlagDecision(Signed):
    """A reviewer's verdict on one flag: it shows what the detector says, or it does not."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="decisions")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)

    class Meta:
        ordering = ["flag", "decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} by {self.reviewer_name}"


class Outcome(models.TextChoices):
    NO_CONCERN = "no_concern", "No concern"
    REFERRED = "referred", "Concern referred for a second review"
    CONFIRMED = "confirmed", "Concern confirmed by a second reviewer"
    SENT_BACK = "sent_back", "Sent back for review"


class SessionDecision(Signed):
    """A reviewer's decision on a whole session, and the status it moved the session to."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)

    class Meta:
        ordering = ["session", "decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} by {self.reviewer_name}"


class Appeal(models.Model):
    """The student's appeal against a confirmed concern. One per session: the decision on appeal is final."""

    session = models.OneToOneField(ExamSession, on_delete=models.CASCADE, related_name="appeal")
    grounds = models.TextField()
    lodged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    lodged_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Appeal of {self.session_id}"
