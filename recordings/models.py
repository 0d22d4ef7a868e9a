"""Recorded streams of exam sessions, their encrypted chunks, gaps, and browser signals.

Personal data: video and audio of the student and their room, their screen, and what their browser
did during the exam. Every byte of media is stored encrypted under the recording's own data key and
is purged (the key destroyed, then the bytes deleted) 180 days after the exam by default.
"""

from __future__ import annotations

import uuid

from django.db import models

from exams.models import ExamSession
from proctor.models import DataKey


class StreamKind(models.TextChoices):
    WEBCAM = "webcam", "Webcam and microphone"
    SCREEN = "screen", "Entire screen"


class RecordingStatus(models.TextChoices):
    RECORDING = "recording", "Recording"
    FINALISED = "finalised", "Finalised"


class Recording(models.Model):
    """One part of one stream of an exam session, stored as numbered encrypted chunks.

    A page reload starts a new MediaRecorder, which writes a new WebM file: that is a new part.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="recordings")
    kind = models.CharField(max_length=10, choices=StreamKind.choices)
    part = models.PositiveSmallIntegerField(default=0)
    data_key = models.OneToOneField(DataKey, on_delete=models.PROTECT, related_name="+", editable=False)
    mime_type = models.CharField(max_length=100, default="video/webm")
    status = models.CharField(max_length=10, choices=RecordingStatus.choices, default=RecordingStatus.RECORDING)
    created_at = models.DateTimeField(auto_now_add=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    playback_name = models.CharField(
        max_length=255, blank=True, help_text="The sealed, seekable copy for review (WebM with cues)."
    )
    playback_size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Plaintext bytes.")
    duration_seconds = models.FloatField(null=True, blank=True)
    stored_bytes = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Plaintext bytes of its chunks, counted against the session's quota."
    )

    class Meta:
        ordering = ["session", "kind", "part"]
        constraints = [
            models.UniqueConstraint(fields=["session", "kind", "part"], name="one_recording_per_stream_part")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (part {self.part + 1}) of {self.session}"


class RecordingChunk(models.Model):
    """One MediaRecorder chunk, sealed (AES-256-GCM, segment-wise) and stored under ``storage_name``."""

    # No index of its own: the unique constraint's index on (recording, seq) serves every lookup by
    # recording, and each chunk's insert keeps one index fewer up to date.
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    seq = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255)  # unique, by a constraint below
    size = models.PositiveIntegerField(help_text="Plaintext bytes.")
    sha256 = models.CharField(max_length=64, help_text="Of the plaintext: tells a re-sent chunk from a different one.")
    client_time = models.DateTimeField(null=True, blank=True, help_text="When the browser began recording it.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recording", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "seq"], name="one_chunk_per_seq"),
            # As a constraint, not unique=True on the field: PostgreSQL then keeps no second index for
            # LIKE queries, which nothing makes. Every index is more work for each chunk's insert.
            models.UniqueConstraint(fields=["storage_name"], name="one_chunk_per_file"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.seq} of {self.recording_id}"


class RecordingGap(models.Model):
    """Chunks that never arrived: a technical gap (network, crash), never evidence of misconduct."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="gaps")
    first_missing_seq = models.PositiveIntegerField()
    last_missing_seq = models.PositiveIntegerField()
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recording", "first_missing_seq"]
        constraints = [
            models.CheckConstraint(
                name="gap_range_order", condition=models.Q(last_missing_seq__gte=models.F("first_missing_seq"))
            )
        ]

    def __str__(self) -> str:
        return f"chunks {self.first_missing_seq}-{self.last_missing_seq} missing from {self.recording_id}"


class SignalKind(models.TextChoices):
    TAB_HIDDEN = "tab_hidden", "Exam tab hidden"
    TAB_VISIBLE = "tab_visible", "Exam tab visible again"
    WINDOW_BLUR = "window_blur", "Browser window lost focus"
    WINDOW_FOCUS = "window_focus", "Browser window regained focus"
    FULLSCREEN_EXIT = "fullscreen_exit", "Left full screen"
    FULLSCREEN_ENTER = "fullscreen_enter", "Returned to full screen"
    COPY = "copy", "Copied text"
    PASTE = "paste", "Pasted text"
    SCREEN_SHARE_ENDED = "screen_share_ended", "Screen sharing stopped"
    CAMERA_ENDED = "camera_ended", "Camera stopped"
    EXTRA_DISPLAY = "extra_display", "Another display connected"
    # An assessment of the LMS that refuses to be framed opens in a window of its own: from then on the
    # exam page's tab is hidden and its window unfocused whenever the student works, by design.
    ASSESSMENT_WINDOW = "assessment_window", "Assessment opened in its own window"


class BrowserSignal(models.Model):
    """Something the student's browser reported during the exam, with both clocks.

    Personal data: a record of the student's actions in their browser; purged with the recordings.
    """

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="browser_signals")
    kind = models.CharField(max_length=30, choices=SignalKind.choices)
    client_time = models.DateTimeField(help_text="When the browser says it happened.")
    server_time = models.DateTimeField(auto_now_add=True, help_text="When the server received it.")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["session", "client_time", "id"]
        indexes = [models.Index(fields=["session", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.client_time:%H:%M:%S}"
