"""Make a new LTI signing key and retire the old one (Celery beat runs the same monthly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lti.keys import RETIRED_KEY_GRACE, published_keys, tool_keys_rotate


class Command(BaseCommand):
    help = (
        "Make a new LTI signing key; the old one stays in /lti/jwks/ for "
        f"{RETIRED_KEY_GRACE.days} days so what it signed still verifies, then is deleted."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key = tool_keys_rotate()
        self.stdout.write(
            self.style.SUCCESS(f"New signing key {key.kid}; {len(published_keys())} key(s) published at /lti/jwks/.")
        )
