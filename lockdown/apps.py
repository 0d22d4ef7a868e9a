from __future__ import annotations

from django.apps import AppConfig


class LockdownConfig(AppConfig):
    """Safe Exam Browser: which exams require it, and the checks that an exam's requests come from it."""

    name = "lockdown"
    verbose_name = "Safe Exam Browser"
