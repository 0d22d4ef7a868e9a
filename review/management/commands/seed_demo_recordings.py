"""Add to the demo data a recorded, analysed and flagged exam attempt that reviewers can play."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from analysis.rules import RULES, Kind
from review.demo.attempt import EXAM_TITLE, DemoAttempt, DemoUnavailable, demo_attempt_record


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class Command(BaseCommand):
    help = (
        "Run seed_demo, then add Noor Student's recorded attempt at the demo quiz, analysed and flagged "
        "through the real services (idempotent). Refuses to run in production."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo_recordings makes demo accounts and recordings; it never runs in production.")
        call_command("seed_demo", stdout=self.stdout, stderr=self.stderr)
        began = time.perf_counter()
        try:
            attempt = demo_attempt_record(say=self._say)
        except DemoUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self._summary(attempt, time.perf_counter() - began)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _summary(self, attempt: DemoAttempt, seconds: float) -> None:
        session = attempt.session
        student = session.student.get_full_name()
        if attempt.changed:
            self.stdout.write(self.style.SUCCESS(f"Demo attempt ready in {seconds:.1f} s: {student}, {EXAM_TITLE}."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Demo attempt already present ({student}, {EXAM_TITLE}); nothing changed.")
            )
        self.stdout.write(f"  Status: {session.get_status_display()}")
        self.stdout.write(f"  Review it as instructor or reviewer: {reverse('review_session', args=[session.pk])}")
        self.stdout.write(f"  Flags ({len(attempt.flags)}):")
        for flag in attempt.flags:
            self.stdout.write(
                f"    {_clock(flag.start_seconds)}-{_clock(flag.end_seconds)}  {RULES[Kind(flag.kind)].label} "
                f"({flag.start_seconds:.1f}-{flag.end_seconds:.1f} s)"
            )
