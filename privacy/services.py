"""Retention: legal holds, and the purge that keeps the retention promise by crypto-shredding.

The purge works in an order that is safe to stop at any point and run again: first the data key is
destroyed (from then on the sealed bytes are noise, in any copy of the storage too), then the stored
objects are deleted, then the rows, in one transaction, with an audit entry saying what went. A run that
was killed half way finds what is left and finishes it; a run with nothing due does nothing.

A database backup from before the purge still holds the wrapped data key. That key is wrapped by the
retention-period key of the month its data fell due (proctor.keystore), kept outside the database. After
purging, each run moves every live key whose month has ended (kept by a hold, a review or an appeal
window, or due later than first thought) into the period of its purge date, then destroys every period
key whose month ended more than a day ago and under which nothing live is left. From then on the backup
cannot decrypt what was purged, even with every key that remains, as long as the key store itself is not
kept in a backup for longer than the retention periods.

Recordings go ``recording_retention_days`` after the exam closed, with everything derived from them:
chunks, playback copies, gaps, browser signals and the flags' evidence pictures (the flags'
plain-language record and the reviewers' decisions stay: they are the outcome). Identity profiles
(face template and ID photo) go ``profile_retention_days`` after their last use. A standing legal
hold on a session keeps its recordings and its student's profile until it is lifted, and a session
in the middle of an attempt, analysis, second review or appeal keeps its recordings until that ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone

from analysis.models import AnalysisSegment, Flag
from exams.lifecycle import IDENTITY_IN_USE, RECORDINGS_IN_USE
from exams.models import CourseMembership, ExamSession, Institution
from identity.models import IdentityProfile
from identity.services import identity_profile_erase
from privacy.models import LegalHold
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Conflict
from proctor.keys import (
    data_key_destroy,
    data_key_move,
    data_keys_forget,
    data_keys_to_settle,
    key_periods_retire,
)
from recordings.models import BrowserSignal, Recording, RecordingChunk
from recordings.services import recordings_due_at
from review.models import Appeal
from review.selectors import appeal_open_until

logger = logging.getLogger(__name__)

#: Used for a profile whose student belongs to no institution's course.
DEFAULT_PROFILE_RETENTION_DAYS = 365


HOLD = "a legal hold"
REVIEW = "a review in progress"
APPEAL = "the time left to appeal a confirmed concern"


class HoldError(Conflict):
    """A legal hold that cannot be set or lifted; the message says why. Nothing was changed."""


def hold_refusal(*, session: ExamSession, reason: str) -> str | None:
    """Why a hold cannot be set on ``session`` with ``reason``, or None when it can."""
    if not (reason or "").strip():
        return "Give the reason for the hold: the case or request the data is kept for."
    if LegalHold.objects.filter(session=session, lifted_at__isnull=True).exists():
        return "This session is already on hold; lift that hold before setting another."
    return None


@transaction.atomic
def hold_set(*, session_id: Any, reason: str, actor: Any, request: HttpRequest | None = None) -> LegalHold:
    session = ExamSession.objects.select_for_update().get(pk=session_id)
    refusal = hold_refusal(session=session, reason=reason)
    if refusal:
        raise HoldError(refusal)
    hold = LegalHold.objects.create(session=session, reason=reason.strip(), set_by=actor)
    # The reason stays on the hold; the permanent log records that one was given.
    audit_record(
        actor=actor,
        action=AuditAction.HOLD_SET,
        target=session,
        request=request,
        detail={"reason_chars": len(hold.reason)},
    )
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
    audit_record(
        actor=actor,
        action=AuditAction.HOLD_LIFT,
        target=hold.session,
        request=request,
        detail={"reason_chars": len(reason)},
    )
    return hold


@dataclass(frozen=True)
class PurgeItem:
    """Something the retention purge will delete, when, and what keeps it for now (empty: nothing)."""

    kind: str  # "recordings" (a session's) or "profile" (a student's identity profile)
    target: Any
    due_at: datetime
    kept_by: str

    def describe(self) -> str:
        if self.kind == "recordings":
            session = self.target
            return f"Recordings of {session.student.get_username()} in {session.exam.title} (session {session.pk})"
        return f"Identity profile of {self.target.user.get_username()} (face template and ID photo)"


def kept_by(session: ExamSession, *, held: bool, appealed: bool, at: datetime) -> str:
    """What keeps a session's recordings past their retention at ``at``, or "" when nothing does: a
    legal hold, a review in progress, or a confirmed concern the student may still appeal (the people
    deciding the appeal need the recordings)."""
    if held:
        return HOLD
    if session.status in RECORDINGS_IN_USE:
        return REVIEW
    closes = appeal_open_until(session, appealed=appealed)
    return APPEAL if closes is not None and closes > at else ""


def _recording_items(*, until: datetime) -> Iterator[PurgeItem]:
    holds = Exists(LegalHold.objects.filter(session=OuterRef("pk"), lifted_at__isnull=True))
    with_data = ExamSession.objects.filter(
        Exists(Recording.objects.filter(session=OuterRef("pk")))
        | Exists(BrowserSignal.objects.filter(session=OuterRef("pk")))
    )
    appealed = Exists(Appeal.objects.filter(session=OuterRef("pk")))
    for institution in Institution.objects.all():
        keep = timedelta(days=institution.recording_retention_days)
        sessions = (
            with_data.filter(exam__course__institution=institution, exam__closes_at__lte=until - keep)
            .select_related("exam__course__institution", "student")
            .annotate(held=holds, appealed=appealed)
            .order_by("exam__closes_at", "pk")
        )
        for session in sessions:
            kept = kept_by(session, held=session.held, appealed=session.appealed, at=until)
            yield PurgeItem("recordings", session, recordings_due_at(session), kept)


def _profile_retention_days(user_id: Any) -> int:
    """The shortest retention of the institutions whose courses the student belongs to."""
    days = CourseMembership.objects.filter(user_id=user_id).aggregate(
        days=Min("course__institution__profile_retention_days")
    )["days"]
    return int(days) if days is not None else DEFAULT_PROFILE_RETENTION_DAYS


def profile_due_at(profile: IdentityProfile) -> datetime:
    """Its last use (a match, enrolment or an ID photo, whichever came last) plus the retention."""
    used = [t for t in (profile.last_used_at, profile.enrolled_at, profile.id_photo_at) if t is not None]
    # Every profile is made by enrolment or an ID photo, which set their time.
    return max(used) + timedelta(days=_profile_retention_days(profile.user_id))


def _held_students() -> set[Any]:
    return set(LegalHold.objects.filter(lifted_at__isnull=True).values_list("session__student_id", flat=True))


def _profile_items(*, until: datetime) -> Iterator[PurgeItem]:
    held = _held_students()
    shortest = min(
        [*Institution.objects.values_list("profile_retention_days", flat=True), DEFAULT_PROFILE_RETENTION_DAYS]
    )
    # Only profiles idle for at least the shortest period can be due; each is then checked exactly.
    idle_since = until - timedelta(days=shortest)
    candidates = IdentityProfile.objects.select_related("user").filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=idle_since),
        Q(enrolled_at__isnull=True) | Q(enrolled_at__lte=idle_since),
        Q(id_photo_at__isnull=True) | Q(id_photo_at__lte=idle_since),
    )
    for profile in candidates.order_by("pk"):
        due_at = profile_due_at(profile)
        if due_at <= until:
            yield PurgeItem("profile", profile, due_at, HOLD if profile.user_id in held else "")


def purge_plan(*, until: datetime | None = None) -> list[PurgeItem]:
    """Everything due for purging by ``until`` (now by default), kept or not, soonest first."""
    until = until or timezone.now()
    items = [*_recording_items(until=until), *_profile_items(until=until)]
    return sorted(items, key=lambda item: (item.due_at, item.kind))


def _delete_objects(names: list[str]) -> int:
    """Delete stored objects; one already gone (a killed run got there) is not an error."""
    named = [name for name in names if name]
    for name in named:
        default_storage.delete(name)
    return len(named)


def _purge_recordings(session_id: Any, due_at: datetime, now: datetime) -> bool:
    """Purge one session's recordings; False when, looked at again under its lock, it must stay or is
    already gone (a hold set, a review reopened, or another run finished it meanwhile)."""
    # 1. Under the session's lock (hold_set takes it too): check again, then crypto-shred. From here
    #    on every copy of the sealed bytes, a copy of the storage included, is unreadable.
    with transaction.atomic():
        session = ExamSession.objects.select_for_update().get(pk=session_id)
        held = LegalHold.objects.filter(session=session, lifted_at__isnull=True).exists()
        appealed = Appeal.objects.filter(session=session).exists()
        recordings = list(Recording.objects.filter(session=session).select_related("data_key"))
        if kept_by(session, held=held, appealed=appealed, at=now) or not (
            recordings or BrowserSignal.objects.filter(session=session).exists()
        ):
            return False
        for recording in recordings:
            data_key_destroy(data_key=recording.data_key)
        names = [
            *RecordingChunk.objects.filter(recording__session=session).values_list("storage_name", flat=True),
            *(recording.playback_name for recording in recordings),
        ]
    # 2. The stored objects.
    objects = _delete_objects(names)
    # 3. The rows, and the audit entry, together; a run that finished this meanwhile left nothing to do.
    with transaction.atomic():
        session = ExamSession.objects.select_for_update().get(pk=session_id)
        if not Recording.objects.filter(session=session).exists() and not session.browser_signals.exists():
            return False
        pictures = Flag.objects.filter(session=session, evidence_thumbnail__isnull=False).update(
            evidence_thumbnail=None, evidence_recording=None, evidence_seconds=None
        )
        signals, _ = BrowserSignal.objects.filter(session=session).delete()
        chunks, _ = RecordingChunk.objects.filter(recording__session=session).delete()
        stretches, _ = AnalysisSegment.objects.filter(recording__session=session).delete()
        Recording.objects.filter(session=session).delete()  # and their gaps
        data_keys_forget([recording.data_key_id for recording in recordings])
        detail = {
            "student": session.student_id,
            "exam": session.exam_id,
            "due": due_at.isoformat(),
            "recordings": [str(r.pk) for r in recordings],
            "chunks": chunks,
            "stored_objects": objects,
            "signals": signals,
            "evidence_pictures": pictures,
            "analysis_stretches": stretches,
        }
        audit_record(actor=None, action=AuditAction.PURGE_RECORDINGS, target=session, detail=detail)
    return True


def _purge_profile(profile: IdentityProfile, now: datetime) -> bool:
    """Purge one identity profile and the face checks made with it; False when, looked at again under
    its lock, it must stay (used again, or a hold set) or is already gone."""

    def keep(locked: IdentityProfile) -> bool:
        return profile_due_at(locked) > now or locked.user_id in _held_students()

    return identity_profile_erase(
        user_id=profile.user_id,
        actor=None,
        action=AuditAction.PURGE_PROFILE,
        keep=keep,
        detail={"due": profile_due_at(profile).isoformat()},
    )


#: Keys looked up together when settling; well under every database's limit on query parameters.
_SETTLE_BATCH = 500


def _keys_settle(now: datetime) -> tuple[int, int]:
    """Move every live data key whose period has ended, or that a master key wraps directly, into the
    period of its purge date (the current month's when that date has passed but something keeps the data),
    then destroy the period keys left with nothing live under them. Returns (keys moved, periods destroyed)."""
    ids = data_keys_to_settle(now=now)
    moved = 0
    for start in range(0, len(ids), _SETTLE_BATCH):
        batch = ids[start : start + _SETTLE_BATCH]
        due: dict[Any, datetime] = {}
        recordings = Recording.objects.filter(data_key_id__in=batch).select_related(
            "session__exam__course__institution"
        )
        for recording in recordings:
            due[recording.data_key_id] = recordings_due_at(recording.session)
        for profile in IdentityProfile.objects.filter(data_key_id__in=batch):
            due[profile.data_key_id] = profile_due_at(profile)
        # A key nothing here knows (None) goes to the current month's period: kept, and looked at again.
        moved += sum(data_key_move(data_key_id=pk, due_at=due.get(pk)) for pk in batch)
    return moved, len(key_periods_retire(now=now))


class PurgeIncomplete(Exception):
    """Some items could not be purged this time (each is logged); the next run tries them again."""


@dataclass
class PurgeReport:
    recordings: int = 0
    profiles: int = 0
    #: Due, but kept by a legal hold or a review in progress.
    held: int = 0
    failed: int = 0
    #: Live data keys moved to the period of their purge date, and period keys destroyed.
    keys_moved: int = 0
    key_periods_destroyed: int = 0


def purge_due(*, now: datetime | None = None) -> PurgeReport:
    """Purge everything whose retention has run out and that nothing keeps. Idempotent, and finishes
    what a killed run left: each item is picked again until its rows are gone. One item that fails
    (storage unreachable, say) is logged and skipped so the rest still go; then PurgeIncomplete. Last,
    the data keys are settled into their periods and the period keys with nothing live left destroyed."""
    now = now or timezone.now()
    report = PurgeReport()
    for item in purge_plan(until=now):
        if item.kept_by:
            report.held += 1
            continue
        try:
            if item.kind == "recordings":
                report.recordings += _purge_recordings(item.target.pk, item.due_at, now)
            else:
                report.profiles += _purge_profile(item.target, now)
        except Exception:
            # Only ids in the log: it is kept longer than the data it speaks of.
            logger.exception("Could not purge %s %s; the next run tries again.", item.kind, item.target.pk)
            report.failed += 1
    try:
        report.keys_moved, report.key_periods_destroyed = _keys_settle(now)
    except Exception:
        logger.exception("Could not move data keys or destroy period keys; the next run tries again.")
        report.failed += 1
    if report.failed:
        raise PurgeIncomplete(f"{report.failed} item(s) could not be purged; see the log. {report}")
    return report


class ProfileDeleteRefused(Conflict):
    """The student's identity profile cannot be deleted now; the message says why. Nothing changed."""


NO_PROFILE = "You have no identity profile to delete."
IN_EXAM = (
    "Your identity profile is in use for {exam}, which is under way or still being checked. You can delete "
    "it once the automated check of that exam has finished, usually within minutes of submitting."
)
ON_HOLD = (
    "Your identity profile is kept under a legal hold on one of your sessions, so it cannot be deleted now. "
    "Your institution's privacy office can tell you more."
)


def _refusal(user_id: Any, *, lock: bool = False) -> str | None:
    sessions = ExamSession.objects.filter(student_id=user_id).select_related("exam")
    if lock:
        # Every one of the student's sessions is locked, so none can move on while the profile goes.
        sessions = sessions.select_for_update()
    busy = next((s for s in sessions if s.status in IDENTITY_IN_USE), None)
    if busy is not None:
        return IN_EXAM.format(exam=busy.exam.title)
    if LegalHold.objects.filter(session__student_id=user_id, lifted_at__isnull=True).exists():
        return ON_HOLD
    return None


def identity_profile_delete_refusal(*, user: Any) -> str | None:
    """Why ``user`` cannot delete their identity profile now, or None when they can."""
    if not IdentityProfile.objects.filter(user_id=user.pk).exists():
        return NO_PROFILE
    return _refusal(user.pk)


def identity_profile_delete(*, user: Any, request: HttpRequest | None = None) -> None:
    """The student deletes their own identity profile (face template, photo ID, face checks) at any
    time outside an exam and its check, unless a legal hold keeps it. Crypto-shredded first, like the
    purge; audited. The refusal is decided again under the locks the erasure takes."""
    refusal: str | None = None

    def keep(profile: IdentityProfile) -> bool:
        nonlocal refusal
        refusal = _refusal(profile.user_id, lock=True)
        return refusal is not None

    erased = identity_profile_erase(
        user_id=user.pk, actor=user, action=AuditAction.PROFILE_DELETE, keep=keep, request=request
    )
    if refusal:
        raise ProfileDeleteRefused(refusal)
    if not erased:
        raise ProfileDeleteRefused(NO_PROFILE)
