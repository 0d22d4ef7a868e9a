"""Automated analysis of exam sessions: each run, and the flags it raised for a person to review.

Personal data: when a student's face was absent, another face present, speech heard or the browser
left, with a small encrypted picture of the moment. Flags are evidence for a human reviewer, never a
decision. Thumbnails are sealed under the data key of the recording they come from, so they are
crypto-shredded with it (180 days after the exam by default); the flag rows go with the session.
"""

from __future__ import annotations

from django.db import models

from analysis.rules import FALSE_ALARM_CAUSES, RULES, Category, Kind, Severity
from exams.models import ExamSession
from recordings.models import Recording

KIND_CHOICES = [(kind.value, RULES[kind].label) for kind in Kind]
CATEGORY_CHOICES = [(Category.CONCERN.value, "Possible concern"), (Category.TECHNICAL.value, "Technical")]
SEVERITY_CHOICES = [(severity.value, severity.value.capitalize()) for severity in Severity]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    #: A worker stopped in the middle (killed, restarted); a later run took over.
    ABANDONED = "abandoned", "Abandoned"


class AnalysisRun(models.Model):
    """One attempt to analyse one session. Only a succeeded run has flags."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="analysis_runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now_add=True, help_text="Updated while it runs; stale means stopped.")
    finished_at = models.DateTimeField(null=True, blank=True)
    stage = models.CharField(max_length=100, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Per cent.")
    failure_reason = models.TextField(blank=True)
    sensitivity = models.CharField(max_length=10)
    exemptions = models.JSONField(default=list, blank=True, help_text="Detectors switched off, and why.")
    detector_versions = models.JSONField(default=dict)
    score = models.FloatField(null=True, blank=True)
    score_breakdown = models.JSONField(default=dict, blank=True)
    recorded_seconds = models.FloatField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    statistics = models.JSONField(default=dict, blank=True, help_text="Frames sampled, detections, checks.")

    class Meta:
        ordering = ["session", "-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(status="running"),
                name="one_running_analysis_per_session",
            ),
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(status="succeeded"),
                name="one_succeeded_analysis_per_session",
            ),
        ]

    def __str__(self) -> str:
        return f"Analysis of {self.session_id} ({self.get_status_display()})"


class Flag(models.Model):
    """A time range of a session that a detector thinks a person should look at, and why."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="flags")
    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    category = models.CharField(max_length=10, choices=CATEGORY_CHOICES)
    start_seconds = models.FloatField(help_text="Seconds from the start of the attempt.")
    end_seconds = models.FloatField()
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    confidence = models.FloatField(help_text="0 to 1: how sure the detector is.")
    reason = models.TextField(help_text="Plain language, for the reviewer and the student alike.")
    detector = models.CharField(max_length=50)
    detector_version = models.CharField(max_length=20)
    thresholds = models.JSONField(default=dict)
    detail = models.JSONField(default=dict, blank=True)
    #: The recording the evidence thumbnail comes from; its data key seals the thumbnail.
    evidence_recording = models.ForeignKey(
        Recording, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    evidence_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Seconds from the start of the attempt when the thumbnail was taken (bound into its seal).",
    )
    evidence_thumbnail = models.BinaryField(null=True, blank=True, editable=False, help_text="Sealed JPEG.")

    class Meta:
        ordering = ["session", "start_seconds", "kind"]
        indexes = [models.Index(fields=["session", "kind"])]
        constraints = [
            models.CheckConstraint(
                name="flag_range_order", condition=models.Q(end_seconds__gte=models.F("start_seconds"))
            ),
            models.CheckConstraint(
                name="flag_confidence_range", condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start_seconds:.0f}-{self.end_seconds:.0f}s"

    @property
    def false_alarm_causes(self) -> list[str]:
        """What is known to raise this kind of flag without misconduct, as stored when it was raised."""
        stored = self.detail.get("false_alarm_causes") if isinstance(self.detail, dict) else None
        return list(stored) if stored else list(FALSE_ALARM_CAUSES.get(Kind(self.kind), ()))


class AnalysisSegment(models.Model):
    """The evidence of one stretch of a webcam part, found while the exam was under way (or, for the
    last stretch, once the part was finalised), so that the flags are ready soon after submit.

    Personal data: when a face was absent, several were present or did not match, and when someone
    spoke, as times and numbers (no pictures). Goes with its recording when that is purged (cascade),
    and is read only by the analysis. Evidence does not depend on the exam's sensitivity, so a
    retried analysis reuses it; it depends on which detectors ran, which ``detectors`` records."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="analysis_segments")
    from_seconds = models.FloatField(help_text="Media seconds of the part where this stretch begins.")
    to_seconds = models.FloatField(help_text="...and where it ends (exclusive).")
    chunks = models.PositiveIntegerField(help_text="Chunks the part had when the stretch was analysed.")
    final = models.BooleanField(default=False, help_text="Reaches the end of a finalised part.")
    detectors = models.CharField(max_length=100, help_text="Which detectors ran, e.g. faces+template,voice.")
    evidence = models.JSONField(default=list)
    statistics = models.JSONField(default=dict, blank=True)
    cpu_seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recording", "from_seconds"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "detectors", "from_seconds"], name="one_segment_per_start"),
            models.CheckConstraint(
                name="segment_range_order", condition=models.Q(to_seconds__gt=models.F("from_seconds"))
            ),
        ]

    def __str__(self) -> str:
        return f"Analysed {self.from_seconds:.0f}-{self.to_seconds:.0f}s of {self.recording_id}"
