"""Answer a breach question from the audit log: who read or changed which personal data of one
person, or of anyone within a time window, including refused attempts."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from proctor.audit import AccessQuery, audit_accesses, audit_record, audit_subjects_of

COLUMNS = ["seq", "at", "actor", "role", "action", "target", "purpose", "outcome", "ip", "people"]


def parse_moment(value: str, *, end: bool = False) -> datetime:
    """An ISO date-time, or a date (its start; with ``end``, the start of the next day)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM).")
        moment = datetime.combine(day, time.min)
        if end:
            moment += timedelta(days=1)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def find_person(value: str) -> Any:
    """A user by username, or by id when the value is a number; a clear error otherwise."""
    users = get_user_model().objects
    person = users.filter(username=value).first()
    if person is None and value.isdigit():
        person = users.filter(pk=int(value)).first()
    if person is None:
        raise ValueError(f"No user is called {value!r} (give a username or a user id).")
    return person


class Command(BaseCommand):
    help = (
        "Who read or changed which personal data of a person (--person), or of anyone in a window "
        "(--since/--until), refused attempts included. Prints CSV."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--person", help="Username or user id of the person whose data was touched.")
        parser.add_argument("--since", help="From this date or date-time (inclusive).")
        parser.add_argument("--until", help="Until this date (inclusive) or date-time (exclusive).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            person = find_person(options["person"]) if options["person"] else None
            since = parse_moment(options["since"]) if options["since"] else None
            until = parse_moment(options["until"], end=True) if options["until"] else None
            query = AccessQuery(subject_id=person.pk if person else None, since=since, until=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # Reading the log about a person is itself a read of personal data.
        audit_record(
            actor=None,
            action="audit.access_report",
            role="operator",
            purpose="breach or access inquiry (manage.py audit_access)",
            subjects=[person.pk] if person else (),
            detail={"since": since, "until": until},
        )
        writer = csv.writer(self.stdout)
        writer.writerow(COLUMNS)
        count = 0
        events = audit_accesses(query).iterator(chunk_size=2000)
        batch: list[Any] = []
        for event in events:
            batch.append(event)
            if len(batch) == 2000:
                count += self._write(writer, batch)
                batch = []
        count += self._write(writer, batch)
        self.stderr.write(f"{count} entries.")

    def _write(self, writer: Any, batch: list[Any]) -> int:
        people = audit_subjects_of(event.seq for event in batch)
        for event in batch:
            writer.writerow(
                [
                    event.seq,
                    event.at.isoformat(),
                    event.actor_label or "system",
                    event.role,
                    event.action,
                    f"{event.target_type}:{event.target_id}" if event.target_type else "",
                    event.purpose,
                    event.outcome,
                    event.ip or "",
                    " ".join(str(subject) for subject in sorted(people.get(event.seq, []))),
                ]
            )
        return len(batch)
