"""Retention: legal holds, and the purge that keeps the retention promise by crypto-shredding.

The purge works in an order that is safe to stop at any point and run again: first the data key is
destroyed (from then on the sealed bytes are noise, in backups too), then the stored objects are
deleted, then the rows, in one transaction, with an audit entry saying what went. A run that was
killed half way finds what is left and finishes it; a run with nothing due does nothing.

Recordings go ``recording_retention_days`` after the exam closed, with everything derived from them:
chunks, playback copies, gaps, browser signals and the flags' evidence pictures (the flags'
plain-language record and the reviewers' decisions stay: they are the outcome). Identity profiles
(face template and ID photo) go ``profile_retention_days`` after their last use. A standing legal
hold on a session keeps its recordings and its student's profile until it is lifted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone

from analysis.models import Flag
from exams.models import CourseMembership, ExamSession, Institution
from identity.models import IdentityProfile
from privacy.models import LegalHold
from proctor.audit import audit_record
from proctor.keys import data_key_destroy
from proctor.models import DataKey
from recordings.models import BrowserSignal, Recording, RecordingChunk, RecordingGap

logger = logging.getLogger(__name__)

#: Used for a profile whose student belongs to no institution's course.
DEFAULT_PROFILE_RETENTION_DAYS = 365

__all__ = ["HoldError", "PurgeItem", "hold_lift", "hold_set", "purge_due", "purge_plan"]


class HoldError(Exception):
    """A legal hold that cannot be set or lifted; the message says why. Nothing was changed."""


def _standing_holds(session_ref: Any) -> Exists:
    return Exists(LegalHold.objects.filter(session=session_ref, lifted_at__isnull=True))


@transaction.atomic
def hold_set(*, session_id: Any, reason: str, actor: Any, request: HttpRequest | None = None) -> LegalHold:
    reason = (reason or "").strip()
    if not reason:
        raise HoldError("Give the reason for the hold: the case or request the data is kept for.")
    session = ExamSession.objects.select_for_update().get(pk=session_id)
    if LegalHold.objects.filter(session=session, lifted_at__isnull=True).exists():
        raise HoldError("This session is already on hold; lift that hold before setting another.")
    hold = LegalHold.objects.create(session=session, reason=reason, set_by=actor)
    audit_record(actor=actor, action="hold.set", target=session, request=request, detail={"reason": reason})
    return hold


@transaction.atomic
def hold_lift(*, hold_id: int, reason: str, actor: Any, request: HttpRequest | None = None) -> LegalHold:
    reason = (reason or "").strip()
    if not reason:
        raise HoldError("Give the reason for lifting the hold.")
    hold = LegalHold.objects.select_for_update().get(pk=hold_id)
    if hold.lifted_at is not None:
        raise HoldError("This hold was already lifted.")
    hold.lifted_at, hold.lifted_by, hold.lift_reason = timezone.now(), actor, reason
    hold.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    audit_record(actor=actor, action="hold.lift", target=hold.session, request=request, detail={"reason": reason})
    return hold


@dataclass(frozen=True)
class PurgeItem:
    """Something the retention purge will delete, and when."""

    kind: str  # "recordings" (a session's) or "profile" (a student's identity profile)
    target: Any
    due_at: datetime
    held: bool

    def describe(self) -> str:
        if self.kind == "recordings":
            session = self.target
            return f"Recordings of {session.student.get_username()} in {session.exam.title} (session {session.pk})"
        return f"Identity profile of {self.target.user.get_username()} (face template and ID photo)"


def _sessions_with_data() -> Any:
    return (
        ExamSession.objects.filter(
            Exists(Recording.objects.filter(session=OuterRef("pk")))
            | Exists(BrowserSignal.objects.filter(session=OuterRef("pk")))
        )
        .select_related("exam__course__institution", "student")
        .annotate(held=_standing_holds(OuterRef("pk")))
    )


def _recording_items(*, until: datetime) -> Iterator[PurgeItem]:
    for institution in Institution.objects.all():
        keep = timedelta(days=institution.recording_retention_days)
        sessions = _sessions_with_data().filter(
            exam__course__institution=institution, exam__closes_at__lte=until - keep
        )
        for session in sessions.order_by("exam__closes_at", "pk"):
            yield PurgeItem("recordings", session, session.exam.closes_at + keep, bool(session.held))


def _profile_retention_days(user_id: Any) -> int:
    """The shortest retention of the institutions whose courses the student belongs to."""
    days = CourseMembership.objects.filter(user_id=user_id).aggregate(
        days=Min("course__institution__profile_retention_days")
    )["days"]
    return int(days) if days is not None else DEFAULT_PROFILE_RETENTION_DAYS


def _profile_items(*, until: datetime) -> Iterator[PurgeItem]:
    held_students = set(LegalHold.objects.filter(lifted_at__isnull=True).values_list("session__student_id", flat=True))
    shortest = min(
        [*Institution.objects.values_list("profile_retention_days", flat=True), DEFAULT_PROFILE_RETENTION_DAYS]
    )
    # Only profiles idle for at least the shortest period can be due; each is then checked exactly.
    candidates = IdentityProfile.objects.select_related("user").filter(
        Q(last_used_at__lte=until - timedelta(days=shortest))
        | Q(last_used_at__isnull=True, enrolled_at__lte=until - timedelta(days=shortest))
        | Q(last_used_at__isnull=True, enrolled_at__isnull=True)
    )
    for profile in candidates.order_by("pk"):
        last_use = profile.last_used_at or profile.enrolled_at or profile.id_photo_at
        if last_use is None:
            last_use = profile.data_key.created_at
        due_at = last_use + timedelta(days=_profile_retention_days(profile.user_id))
        if due_at <= until:
            yield PurgeItem("profile", profile, due_at, profile.user_id in held_students)


def purge_plan(*, until: datetime | None = None) -> list[PurgeItem]:
    """Everything due for purging by ``until`` (now by default), held or not, soonest first."""
    until = until or timezone.now()
    items = [*_recording_items(until=until), *_profile_items(until=until)]
    return sorted(items, key=lambda item: (item.due_at, item.kind))


def _delete_objects(names: list[str]) -> int:
    deleted = 0
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)
            deleted += 1
    return deleted


def _purge_recordings(session: ExamSession, due_at: datetime) -> dict[str, Any]:
    recordings = list(Recording.objects.filter(session=session).select_related("data_key"))
    # 1. Crypto-shred: from here on every copy of the sealed bytes, backups included, is unreadable.
    for recording in recordings:
        data_key_destroy(data_key=recording.data_key)
    # 2. The stored objects. Deleting a missing one is not an error: a killed run may have done it.
    names = [
        *RecordingChunk.objects.filter(recording__session=session).values_list("storage_name", flat=True),
        *(recording.playback_name for recording in recordings),
    ]
    objects = _delete_objects(names)
    # 3. The rows, and the audit entry, together.
    with transaction.atomic():
        pictures = Flag.objects.filter(session=session, evidence_thumbnail__isnull=False).update(
            evidence_thumbnail=None, evidence_recording=None, evidence_seconds=None
        )
        signals, _ = BrowserSignal.objects.filter(session=session).delete()
        RecordingGap.objects.filter(recording__session=session).delete()
        chunks, _ = RecordingChunk.objects.filter(recording__session=session).delete()
        Recording.objects.filter(session=session).delete()
        DataKey.objects.filter(pk__in=[r.data_key_id for r in recordings], wrapped__isnull=True).delete()
        detail = {
            "student": session.student_id,
            "exam": session.exam_id,
            "due": due_at.isoformat(),
            "recordings": [str(r.pk) for r in recordings],
            "chunks": chunks,
            "stored_objects": objects,
            "signals": signals,
            "evidence_pictures": pictures,
        }
        audit_record(actor=None, action="retention.purge_recordings", target=session, detail=detail)
    return detail


def _purge_profile(profile: IdentityProfile, due_at: datetime) -> dict[str, Any]:
    data_key_destroy(data_key=profile.data_key)
    objects = _delete_objects([profile.id_photo_name])
    with transaction.atomic():
        key_id = profile.data_key_id
        profile.delete()
        DataKey.objects.filter(pk=key_id, wrapped__isnull=True).delete()
        detail = {"student": profile.user_id, "due": due_at.isoformat(), "stored_objects": objects}
        audit_record(
            actor=None,
            action="retention.purge_profile",
            target=get_user_model().objects.get(pk=profile.user_id),
            detail=detail,
        )
    return detail


@dataclass
class PurgeReport:
    recordings: int = 0
    profiles: int = 0
    held: int = 0


def purge_due(*, now: datetime | None = None) -> PurgeReport:
    """Purge everything whose retention has run out and that no standing hold keeps. Idempotent, and
    finishes what a killed run left: each item is picked again until its rows are gone."""
    report = PurgeReport()
    for item in purge_plan(until=now):
        if item.held:
            report.held += 1
            continue
        if item.kind == "recordings":
            _purge_recordings(item.target, item.due_at)
            report.recordings += 1
        else:
            _purge_profile(item.target, item.due_at)
            report.profiles += 1
        logger.info("Purged %s (due %s).", item.describe(), item.due_at.isoformat())
    return report
