from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from exams.models import Exam

HEX_KEY = RegexValidator(r"^[0-9a-f]{64}$", "A key is 64 hexadecimal characters (0-9, a-f).")


def validate_browser_exam_keys(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValidationError("Browser Exam Keys are a list of 64-character hexadecimal keys.")
    for key in value:
        HEX_KEY(key)
    if len(set(value)) != len(value):
        raise ValidationError("A Browser Exam Key is listed twice.")


class SafeExamBrowserRequirement(models.Model):
    """Whether an exam must be taken in Safe Exam Browser, and the keys that prove SEB runs with the
    exam's configuration. Holds no personal data: the .seb file is the instructor's exam settings
    (kept as uploaded, so students can download exactly that file); it goes with the exam."""

    exam = models.OneToOneField(Exam, on_delete=models.CASCADE, related_name="safe_exam_browser")
    required = models.BooleanField(default=False)
    config_file = models.BinaryField(blank=True, default=b"", help_text="The .seb file as the instructor uploaded it.")
    config_file_name = models.CharField(max_length=200, blank=True)
    config_key = models.CharField(
        max_length=64, blank=True, validators=[HEX_KEY], help_text="The Config Key computed from the .seb file."
    )
    browser_exam_keys = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_browser_exam_keys],
        help_text="Browser Exam Keys accepted (each SEB version and configuration has its own).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="lockdown_config_key_with_its_file",
                condition=models.Q(config_key="", config_file_name="") | ~models.Q(config_key=""),
            )
        ]

    def __str__(self) -> str:
        return f"Safe Exam Browser for {self.exam}"

    @property
    def enforced(self) -> bool:
        """Required, with at least one key to check against (a requirement without keys cannot be met,
        so the service refuses to save one)."""
        return self.required and bool(self.config_key or self.browser_exam_keys)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the accepted keys change, so an earlier verification stops counting."""
        material = "\n".join([self.config_key, *sorted(self.browser_exam_keys)])
        return hashlib.sha256(material.encode()).hexdigest()[:16]
