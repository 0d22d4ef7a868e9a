"""Answer a breach question from the audit log: who read or changed which personal data of one
person, or of anyone within a time window, including refused attempts."""

from __future__ import annotations

import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from proctor.access_report import COLUMNS, question_from, report_rows
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


class Command(BaseCommand):
    help = (
        "Who read or changed which personal data of a person (--person), or of anyone in a window "
        "(--since/--until), refused attempts included. Prints CSV."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--person", default="", help="Username or user id of the person whose data was touched.")
        parser.add_argument("--since", default="", help="From this date or date-time (inclusive).")
        parser.add_argument("--until", default="", help="Until this date (inclusive) or date-time (exclusive).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            question = question_from(options["person"], options["since"], options["until"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # Reading the log about a person is itself a read of personal data.
        audit_record(
            actor=None,
            action=AuditAction.AUDIT_ACCESS_REPORT,
            role="operator",
            purpose="breach or access inquiry (manage.py audit_access)",
            subjects=[question.person.pk] if question.person else [],
            detail={"since": question.query.since, "until": question.query.until},
        )
        writer = csv.writer(self.stdout)
        writer.writerow(COLUMNS)
        count = 0
        for row in report_rows(question):
            writer.writerow(row)
            count += 1
        self.stderr.write(f"{count} entries.")
