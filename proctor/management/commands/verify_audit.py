"""Verify the audit log's hash chain: exit 0 when intact, 1 naming the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from proctor.audit import audit_verify


class Command(BaseCommand):
    help = "Check that no audit entry was edited, deleted or inserted; name the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            raise CommandError(
                f"Audit log broken at {result.first_break}. {result.checked} entries before it are intact."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit log intact: {result.checked} entries verified. Head: {result.head_hash}")
        )
