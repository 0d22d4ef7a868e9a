"""The append-only, hash-chained audit log: recording events and verifying the chain."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from proctor.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


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
) -> str:
    """SHA-256 over a canonical JSON form of every field and the previous entry's hash."""
    body = json.dumps(
        [seq, _canonical_time(at), actor_id, actor_label, action, target_type, target_id, ip, detail, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _hash_of_row(event: AuditEvent) -> str:
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
    )


def audit_record(
    *,
    actor: Any | None,
    action: str,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``actor`` is a user (None for the system); ``action`` a dotted verb such as
    ``session.transition``. Runs in the caller's transaction, so a rolled-back action leaves no entry.
    """
    detail_json = json.loads(json.dumps(dict(detail or {}), default=str))
    actor_id: int | None = None
    actor_label = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_id, actor_label = actor.pk, actor.get_username()
    target_type = target._meta.label_lower if target is not None else ""
    target_id = str(target.pk) if target is not None else ""
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(id=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        at = timezone.now()
        seq = head.seq + 1
        ip = client_ip(request)
        digest = event_hash(
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            detail=detail_json,
            prev_hash=head.hash,
        )
        event = AuditEvent.objects.create(
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            detail=detail_json,
            prev_hash=head.hash,
            hash=digest,
        )
        AuditHead.objects.filter(id=1).update(seq=seq, hash=digest)
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


def _events_in_order(batch_size: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def audit_verify() -> AuditVerification:
    """Walk the whole chain and report the first broken link (edited, deleted or inserted rows)."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in _events_in_order():
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
        if _hash_of_row(event) != event.hash:
            return AuditVerification(checked, AuditBreak(event.seq, "its contents do not match its hash (row edited)."))
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(id=1).first()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev_hash:
        return AuditVerification(
            checked,
            AuditBreak(
                checked + 1,
                f"the log ends at #{checked} but its head names #{head_seq} (rows deleted from the end).",
            ),
        )
    return AuditVerification(checked, None, head_hash)
