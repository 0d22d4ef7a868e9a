"""Re-wrap every data key under the primary key-encryption key; media is not touched."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from proctor.audit import audit_record
from proctor.keys import data_keys_not_under_primary, data_keys_rewrap, keyring


class Command(BaseCommand):
    help = (
        "After putting a new key first in INVIGIL_KEYS, re-wrap all data keys with it. Safe to stop and "
        "run again. Remove the old key from INVIGIL_KEYS only after this reports completion."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        primary = keyring().primary_id
        count = data_keys_rewrap()
        audit_record(actor=None, action="keys.rotate", detail={"primary": primary, "rewrapped": count})
        remaining = data_keys_not_under_primary()
        if remaining:
            raise CommandError(
                f"Re-wrapped {count} data keys, but {remaining} are still under older keys (locked by a running "
                "job). Run rotate_keys again; do not remove the old key from INVIGIL_KEYS yet."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-wrapped {count} data keys under key-encryption key {primary!r}. Every live data key is now "
                "under it; older keys can be removed from INVIGIL_KEYS."
            )
        )
