"""The append-only, hash-chained audit log: recording events and verifying the chain."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from proctor.audit_actions import AuditAction
from proctor.models import AuditEvent, AuditHead, AuditSubject, Outcome

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
MAX_PURPOSE_CHARS = AuditEvent._meta.get_field("purpose").max_length or 300


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address, or None when REMOTE_ADDR is not an IP address.

    Behind a reverse proxy Daphne runs with --proxy-headers and REMOTE_ADDR comes from
    X-Forwarded-For, so the proxy must overwrite that header, not append to it (deploy/README.md).
    """
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    ip: str | None,
    detail: Mapping[str, Any],
    prev_hash: str,
    role: str = "",
    purpose: str = "",
    outcome: str = Outcome.DONE,
    subjects: Iterable[int] = (),
) -> str:
    """SHA-256 over a canonical JSON form of every field and the previous entry's hash.

    Role, purpose, outcome and subjects came later: an entry that has none of them hashes exactly as
    entries written before they existed, so older chains still verify.
    """
    fields: list[Any] = [
        seq,
        _canonical_time(at),
        actor_id,
        actor_label,
        action,
        target_type,
        target_id,
        ip,
        detail,
        prev_hash,
    ]
    subject_list = sorted(set(subjects))
    if role or purpose or outcome != Outcome.DONE or subject_list:
        fields.append([role, purpose, str(outcome), subject_list])
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _hash_of_row(event: AuditEvent, subjects: Iterable[int] = ()) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        ip=event.ip,
        detail=event.detail,
        prev_hash=event.prev_hash,
        role=event.role,
        purpose=event.purpose,
        outcome=event.outcome,
        subjects=subjects,
    )


#: Foreign keys that name the person an object is about, and those that lead to such an object.
PERSON_FIELDS = ("student", "user")
PATH_FIELDS = ("session", "recording", "evidence_recording", "flag", "profile", "check")


def subjects_of(target: models.Model | None, *, depth: int = 3) -> list[int]:
    """The person whose data ``target`` is: a user, or the student or user it belongs to, found through
    its session, recording, flag or profile. Courses, exams and policies name nobody."""
    if target is None or depth == 0:
        return []
    if isinstance(target, get_user_model()):
        return [target.pk]
    fields = {field.name: field for field in target._meta.get_fields() if field.many_to_one or field.one_to_one}
    for name in PERSON_FIELDS:
        field = fields.get(name)
        if field is not None and field.related_model is get_user_model() and field.concrete:
            person = getattr(target, field.attname)
            return [person] if person is not None else []
    for name in PATH_FIELDS:
        field = fields.get(name)
        if field is not None and field.concrete:
            related = getattr(target, name)
            if related is not None:
                return subjects_of(related, depth=depth - 1)
    return []


def default_role(actor: Any | None, target: models.Model | None = None) -> str:
    """The role an entry names when its caller does not say: what the account is.

    The exams app installs a resolver that names the role in the target's course instead
    (exams.permissions.audit_role); this is the fallback before it does.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "system" if actor is None else "anonymous"
    if actor.is_superuser or actor.is_staff:
        return "admin"
    return "user"


RoleResolver = Callable[[Any, models.Model | None], str]
_role_resolver: dict[str, RoleResolver] = {"resolve": default_role}


def audit_role_resolver_install(resolver: RoleResolver) -> None:
    """Let a higher app say what role an actor has towards a target (proctor knows no courses)."""
    _role_resolver["resolve"] = resolver


@dataclass(frozen=True)
class AuditEntry:
    """An audit entry made ready to append: everything but its place in the chain."""

    actor_id: int | None
    actor_label: str
    action: str
    target_type: str
    target_id: str
    ip: str | None
    detail: dict[str, Any]
    role: str
    purpose: str
    outcome: str
    subjects: list[int]


def audit_entry(
    *,
    actor: Any | None,
    action: AuditAction,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    detail: Mapping[str, Any] | None = None,
    role: str | None = None,
    purpose: str = "",
    outcome: Outcome = Outcome.DONE,
    subjects: Iterable[int | None] | None = None,
) -> AuditEntry:
    """One entry, made ready outside the lock of the chain (what audit_record takes, it takes)."""
    if not isinstance(action, AuditAction):
        raise TypeError(f"Audit actions are members of AuditAction (proctor/audit_actions.py), not {action!r}.")
    actor_id: int | None = None
    actor_label = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_id, actor_label = actor.pk, actor.get_username()
    if subjects is None:
        subjects = subjects_of(target)
    return AuditEntry(
        actor_id=actor_id,
        actor_label=actor_label,
        action=action.value,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        ip=client_ip(request),
        detail=json.loads(json.dumps(dict(detail or {}), default=str)),
        role=(role if role is not None else _role_resolver["resolve"](actor, target))[:20],
        purpose=purpose[:MAX_PURPOSE_CHARS],
        outcome=outcome,
        subjects=sorted({int(subject) for subject in subjects if subject is not None}),
    )


def audit_append(entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append entries in their order under one lock of the chain's head: one round of the chain, however
    many (a thousand students starting their streams at once queue on that lock). Runs in the caller's
    transaction, so a rolled-back action leaves no entry (and with no savepoint of its own: two round trips
    fewer for every audited action, and an error here fails the caller's transaction, as it should)."""
    if not entries:
        return []
    with transaction.atomic(savepoint=False):
        head, _ = AuditHead.objects.select_for_update().get_or_create(id=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        at = timezone.now()
        seq, prev_hash = head.seq, head.hash
        events: list[AuditEvent] = []
        subjects: list[AuditSubject] = []
        for entry in entries:
            seq += 1
            digest = event_hash(
                seq=seq,
                at=at,
                actor_id=entry.actor_id,
                actor_label=entry.actor_label,
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                ip=entry.ip,
                detail=entry.detail,
                prev_hash=prev_hash,
                role=entry.role,
                purpose=entry.purpose,
                outcome=entry.outcome,
                subjects=entry.subjects,
            )
            events.append(
                AuditEvent(
                    seq=seq,
                    at=at,
                    actor_id=entry.actor_id,
                    actor_label=entry.actor_label,
                    action=entry.action,
                    target_type=entry.target_type,
                    target_id=entry.target_id,
                    ip=entry.ip,
                    detail=entry.detail,
                    role=entry.role,
                    purpose=entry.purpose,
                    outcome=entry.outcome,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            subjects.extend(AuditSubject(seq=seq, subject_id=subject) for subject in entry.subjects)
            prev_hash = digest
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
        if subjects:
            AuditSubject.objects.bulk_create(subjects)
        AuditHead.objects.filter(id=1).update(seq=seq, hash=prev_hash)
    return events


def audit_record(
    *,
    actor: Any | None,
    action: AuditAction,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    detail: Mapping[str, Any] | None = None,
    role: str | None = None,
    purpose: str = "",
    outcome: Outcome = Outcome.DONE,
    subjects: Iterable[int | None] | None = None,
) -> AuditEvent:
    """Append one event. ``actor`` is a user (None for the system); ``action`` a member of
    AuditAction, never a free string: what the log records is listed in one place, with what each entry
    means. Runs in the caller's transaction, so a rolled-back action leaves no entry.

    ``subjects`` are the user ids of the people whose personal data the action read or changed (a
    student whose recording was played); ``purpose`` is what the actor stated before reading it;
    ``outcome`` says whether the action happened or was refused. Without ``subjects``, the person is
    found from the target (``subjects_of``).
    """
    entry = audit_entry(
        actor=actor,
        action=action,
        target=target,
        request=request,
        detail=detail,
        role=role,
        purpose=purpose,
        outcome=outcome,
        subjects=subjects,
    )
    (event,) = audit_append([entry])
    return event


@dataclass(frozen=True)
class AuditBreak:
    """The first place where the stored log disagrees with its own chain."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"audit entry #{self.seq}: {self.problem}"


@dataclass(frozen=True)
class AuditVerification:
    checked: int
    first_break: AuditBreak | None
    head_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _events_in_order(batch_size: int = 2000) -> Iterator[tuple[AuditEvent, list[int]]]:
    """Each entry with the subjects indexed for it, in order, a batch at a time."""
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch_size])
        if not batch:
            return
        subjects: dict[int, list[int]] = {}
        for seq, subject in AuditSubject.objects.filter(seq__gt=last, seq__lte=batch[-1].seq).values_list(
            "seq", "subject_id"
        ):
            subjects.setdefault(seq, []).append(subject)
        for event in batch:
            yield event, subjects.get(event.seq, [])
        last = batch[-1].seq


def anchor_storage() -> Storage:
    """Where head anchors go: STORAGES["audit_anchors"], outside the database (settings)."""
    return storages["audit_anchors"]


@dataclass(frozen=True)
class Anchor:
    """The chain's head as it was written outside the database at one moment."""

    name: str
    seq: int
    hash: str
    at: str


def audit_anchor_write(*, storage: Storage | None = None) -> Anchor:
    """Write the chain's head (sequence number and hash) outside the database: one small object per
    run in the media store (an object store in production) and a line in the log.

    Anyone who later rewrites or drops the log, head included, disagrees with every anchor written
    before. Runs daily after the chain verifies (proctor.tasks)."""
    storage = storage or anchor_storage()
    head = AuditHead.objects.filter(id=1).first()
    seq, digest = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    now = timezone.now()
    at = _canonical_time(now)
    body = {"seq": seq, "hash": digest, "at": at}
    name = storage.save(
        f"{now.astimezone(UTC):%Y-%m-%dT%H%M%S}.json",
        ContentFile(json.dumps(body, sort_keys=True).encode()),
    )
    logger.info("Audit chain head anchored: #%d %s (%s).", seq, digest, name)
    return Anchor(name=name, seq=seq, hash=digest, at=at)


def audit_anchors(*, storage: Storage | None = None) -> list[Anchor]:
    """Every anchor written so far, oldest first; an unreadable one is reported, not skipped."""
    storage = storage or anchor_storage()
    try:
        _, files = storage.listdir("")
    except FileNotFoundError:
        return []
    anchors = []
    for name in sorted(files):
        if not name.endswith(".json"):
            continue
        with storage.open(name) as handle:
            try:
                body = json.loads(handle.read())
                anchors.append(Anchor(name=name, seq=int(body["seq"]), hash=str(body["hash"]), at=str(body["at"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"The audit anchor {name} is not readable ({exc}).") from exc
    return anchors


def audit_verify(*, anchors: list[Anchor] | None = None) -> AuditVerification:
    """Walk the whole chain and report the first broken link (edited, deleted or inserted rows).

    ``anchors`` (by default every one in the anchor store) are heads written outside the database on
    earlier days: the chain must still contain each, so losing the whole table, head and all, shows.
    """
    if anchors is None:
        anchors = audit_anchors()
    anchored = {anchor.seq: anchor for anchor in anchors}
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event, subjects in _events_in_order():
        if event.seq != expected_seq:
            missing = (
                f"entry #{expected_seq} is missing"
                if event.seq > expected_seq
                else f"entry #{event.seq} is out of sequence"
            )
            return AuditVerification(checked, AuditBreak(expected_seq, f"{missing} (rows deleted)."))
        if event.prev_hash != prev_hash:
            return AuditVerification(
                checked, AuditBreak(event.seq, "it does not link to the entry before it (rows deleted or replaced).")
            )
        if _hash_of_row(event, subjects) != event.hash:
            return AuditVerification(
                checked,
                AuditBreak(event.seq, "its contents or the people it names do not match its hash (row edited)."),
            )
        anchor = anchored.get(event.seq)
        if anchor is not None and anchor.hash != event.hash:
            return AuditVerification(
                checked,
                AuditBreak(event.seq, f"it differs from the head anchored outside the database at {anchor.at}."),
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    tail = _tail_break(checked, prev_hash, anchors)
    if tail is not None:
        return AuditVerification(checked, tail)
    return AuditVerification(checked, None, prev_hash)


def _tail_break(checked: int, last_hash: str, anchors: list[Anchor]) -> AuditBreak | None:
    """What is wrong after the last entry: stray people rows, anchors or a head beyond the end."""
    if AuditSubject.objects.filter(seq__gt=checked).exists():
        return AuditBreak(checked + 1, "people are indexed for an entry that does not exist (rows deleted).")
    beyond = [anchor for anchor in anchors if anchor.seq > checked]
    if beyond:
        latest = max(beyond, key=lambda anchor: anchor.seq)
        return AuditBreak(
            checked + 1,
            f"the log ends at #{checked} but the head anchored outside the database at {latest.at} "
            f"names #{latest.seq} (entries deleted, or the whole log replaced).",
        )
    head = AuditHead.objects.filter(id=1).first()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != last_hash:
        return AuditBreak(
            checked + 1, f"the log ends at #{checked} but its head names #{head_seq} (rows deleted from the end)."
        )
    return None


# --- Who read whose data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessQuery:
    """A breach question: everything done to one person's data, or to anyone's within a window."""

    subject_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.subject_id is None and self.since is None and self.until is None:
            raise ValueError("Name a person, a time window, or both.")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("The window must end after it starts.")


def audit_accesses(query: AccessQuery) -> models.QuerySet[AuditEvent]:
    """Every entry that touched a person's data and matches the query, oldest first: reads (playback,
    pictures, photo IDs, review pages, exports, admin views), changes, and refused attempts.

    One index lookup on the people index, then the entries by sequence number, so it answers in
    seconds on a log of millions of rows (bench/audit.py).
    """
    people = AuditSubject.objects.all()
    if query.subject_id is not None:
        people = people.filter(subject_id=query.subject_id)
    events = AuditEvent.objects.filter(seq__in=people.values("seq"))
    if query.since is not None:
        events = events.filter(at__gte=query.since)
    if query.until is not None:
        events = events.filter(at__lt=query.until)
    return events.order_by("seq")


def audit_subjects_of(seqs: Iterable[int]) -> dict[int, list[int]]:
    """The people each of these entries names."""
    named: dict[int, list[int]] = {}
    for seq, subject in AuditSubject.objects.filter(seq__in=list(seqs)).values_list("seq", "subject_id"):
        named.setdefault(seq, []).append(subject)
    return named
