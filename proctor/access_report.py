"""The breach report shared by ``manage.py audit_access`` and the admin's access page: parse the
question, run it (proctor.audit.audit_accesses), and lay out each entry as one row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from proctor.audit import AccessQuery, audit_accesses, audit_subjects_of
from proctor.models import AuditEvent

COLUMNS = ["seq", "at", "actor", "role", "action", "target", "purpose", "outcome", "ip", "people"]
BATCH = 2000


def parse_moment(value: str, *, end: bool = False) -> datetime:
    """An ISO date-time, or a date (its start; with ``end``, the start of the next day)."""
    value = value.strip()
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        try:
            day = parse_date(value)
        except ValueError:
            day = None
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
    value = value.strip()
    users = get_user_model().objects
    person = users.filter(username=value).first()
    if person is None and value.isdigit():
        person = users.filter(pk=int(value)).first()
    if person is None:
        raise ValueError(f"No user is called {value!r} (give a username or a user id).")
    return person


@dataclass(frozen=True)
class Question:
    query: AccessQuery
    person: Any | None


def question_from(person: str = "", since: str = "", until: str = "") -> Question:
    """The question as typed (username or id; dates or date-times); ValueError says what is wrong."""
    found = find_person(person) if person.strip() else None
    query = AccessQuery(
        subject_id=found.pk if found is not None else None,
        since=parse_moment(since) if since.strip() else None,
        until=parse_moment(until, end=True) if until.strip() else None,
    )
    return Question(query=query, person=found)


def rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    """Each entry as a row of COLUMNS, reading the people a batch at a time."""
    batch: list[AuditEvent] = []

    def flush() -> Iterator[list[str]]:
        people = audit_subjects_of(event.seq for event in batch)
        for event in batch:
            yield [
                str(event.seq),
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

    for event in events:
        batch.append(event)
        if len(batch) == BATCH:
            yield from flush()
            batch = []
    yield from flush()


def report_rows(question: Question) -> Iterator[list[str]]:
    return rows(audit_accesses(question.query).iterator(chunk_size=BATCH))
