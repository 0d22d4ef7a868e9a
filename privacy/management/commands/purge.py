"""Run the retention purge now, or list what it would purge and when."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from privacy.services import PurgeIncomplete, purge_due, purge_plan


def days(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Purge recordings and identity profiles whose retention has run out (crypto-shredding first), "
        "unless a legal hold stands; then move data keys kept past their month to a later retention period "
        "and destroy the period keys of ended months with nothing live left, so older database backups "
        "cannot decrypt what was purged. With --dry-run, list what would go and when, and change nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would be purged; change nothing.")
        parser.add_argument(
            "--within",
            type=days,
            default=None,
            metavar="DAYS",
            help="With --dry-run, also list what falls due in the next DAYS days.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["within"] is not None and not options["dry_run"]:
            raise CommandError("--within only lists what falls due later; use it with --dry-run.")
        if options["dry_run"]:
            items = purge_plan(until=now + timedelta(days=options["within"] or 0))
            if not items:
                self.stdout.write("Nothing is due for purging.")
                return
            for item in items:
                when = f"due {timezone.localtime(item.due_at):%Y-%m-%d %H:%M}"
                if item.due_at <= now:
                    when = f"due since {timezone.localtime(item.due_at):%Y-%m-%d %H:%M}"
                state = f"KEPT by {item.kept_by}" if item.kept_by else "would be purged"
                self.stdout.write(f"{item.describe()}: {when}; {state}.")
            self.stdout.write(f"{len(items)} item(s) listed; nothing was changed (dry run).")
            return
        try:
            report = purge_due(now=now)
        except PurgeIncomplete as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged the recordings of {report.recordings} session(s) and {report.profiles} identity "
                f"profile(s); {report.held} item(s) kept by legal holds or reviews in progress; "
                f"{report.keys_moved} data key(s) moved to a later retention period and "
                f"{report.key_periods_destroyed} retention-period key(s) destroyed."
            )
        )
