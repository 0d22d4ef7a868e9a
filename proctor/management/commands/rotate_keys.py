"""Re-seal every period key, and re-wrap every data key still under a master key directly, with the primary
master key; media is not touched."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keys import data_keys_not_under_primary, data_keys_rewrap, keyring, period_keys_rewrap


class Command(BaseCommand):
    help = (
        "After putting a new key first in INVIGIL_KEYS, re-seal the retention-period keys and re-wrap the "
        "remaining data keys with it. Safe to stop and run again. Remove the old key from INVIGIL_KEYS only "
        "after this reports completion."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        primary = keyring().primary_id
        periods = period_keys_rewrap()
        count = data_keys_rewrap()
        audit_record(
            actor=None,
            action=AuditAction.KEYS_ROTATE,
            detail={"primary": primary, "rewrapped": count, "periods": periods},
        )
        remaining = data_keys_not_under_primary()
        if remaining:
            raise CommandError(
                f"Re-wrapped {count} data keys, but {remaining} are still under older keys (locked by a running "
                "job). Run rotate_keys again; do not remove the old key from INVIGIL_KEYS yet."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-sealed {periods} retention-period keys and re-wrapped {count} data keys under key-encryption "
                f"key {primary!r}. Every live key is now under it; older keys can be removed from INVIGIL_KEYS."
            )
        )
