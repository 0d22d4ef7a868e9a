"""Run the retention purge now, or list what it would purge and when."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from privacy.services import purge_due, purge_plan


class Command(BaseCommand):
    help = (
        "Purge recordings and identity profiles whose retention has run out (crypto-shredding first), "
        "unless a legal hold stands. With --dry-run, list what would go and when, and change nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would be purged; change nothing.")
        parser.add_argument(
            "--within",
            type=int,
            default=0,
            metavar="DAYS",
            help="With --dry-run, also list what falls due in the next DAYS days.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["dry_run"]:
            items = purge_plan(until=now + timedelta(days=max(options["within"], 0)))
            if not items:
                self.stdout.write("Nothing is due for purging.")
                return
            for item in items:
                when = f"due {timezone.localtime(item.due_at):%Y-%m-%d %H:%M}"
                if item.due_at <= now:
                    when = f"due since {timezone.localtime(item.due_at):%Y-%m-%d %H:%M}"
                state = "KEPT by a legal hold" if item.held else "would be purged"
                self.stdout.write(f"{item.describe()}: {when}; {state}.")
            self.stdout.write(f"{len(items)} item(s) listed; nothing was changed (dry run).")
            return
        report = purge_due(now=now)
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged the recordings of {report.recordings} session(s) and {report.profiles} identity "
                f"profile(s); {report.held} item(s) kept by legal holds."
            )
        )
