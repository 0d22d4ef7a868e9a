"""What Invigil holds about one student, for their "My data" page and their export: their identity
profile, each session with its recordings and when they will be purged, flags and outcomes once a
person has reviewed them, the consents they gave, and who accessed their recordings (from the
audit log). A fixed number of queries whatever the number of sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from analysis.models import AnalysisRun, AnalysisSegment, Flag, RunStatus
from exams.lifecycle import REVIEWED
from exams.models import (
    Accommodation,
    AlternativeRequest,
    ConsentRecord,
    CourseMembership,
    ExamSession,
    SessionTransition,
)
from identity.consent import biometric_consent_latest
from identity.models import BiometricConsent, IdentityProfile
from privacy.models import LegalHold
from privacy.services import HOLD, identity_profile_delete_refusal, kept_by, profile_due_at
from proctor.audit_actions import RECORDING_ACCESSES, AuditAction
from proctor.keys import data_key_backups_readable_until
from proctor.models import AuditEvent
from proctor.moments import moment_text
from recordings.models import BrowserSignal, Recording, RecordingGap
from recordings.services import recordings_due_at
from review.models import Appeal, FlagDecision, SessionDecision

SESSION = "exams.examsession"
RECORDING = "recordings.recording"
SYSTEM = "Invigil (automated)"


@dataclass(frozen=True)
class FlagOutcome:
    flag: Flag
    decision: FlagDecision | None

    @property
    def verdict(self) -> str:
        return self.decision.get_verdict_display() if self.decision else "Not decided"


@dataclass
class SessionData:
    session: ExamSession
    recordings: list[Recording]
    consents: list[ConsentRecord]
    #: When its recordings (and everything derived from them) are purged; None with nothing recorded.
    purge_at: datetime | None
    #: What keeps them past that date for now ("" when nothing does).
    kept_by: str
    #: When the purge deleted them, if it has.
    purged_at: datetime | None
    reviewed: bool
    flags: list[FlagOutcome] = field(default_factory=list)
    decisions: list[SessionDecision] = field(default_factory=list)
    flag_count: int = 0


@dataclass(frozen=True)
class Access:
    """Accesses by one person, of one kind, to one session's recordings on one day."""

    who: str
    what: str
    exam: str
    #: The purpose they stated before reading (review.access); empty for the system and older entries.
    why: str
    first: datetime
    last: datetime
    times: int


@dataclass
class MyData:
    user: Any
    profile: IdentityProfile | None
    profile_purge_at: datetime | None
    profile_kept_by: str
    #: When database backups made before now can no longer read the profile (None: not known).
    profile_backups_readable_until: datetime | None
    profile_delete_refusal: str | None
    #: The latest answer about face matching (None: never asked).
    face_matching: BiometricConsent | None
    sessions: list[SessionData]
    accesses: list[Access]


def _sessions(user: Any) -> list[ExamSession]:
    return list(
        ExamSession.objects.filter(student_id=user.pk)
        .select_related("exam__course__institution")
        .prefetch_related(
            Prefetch("recordings", queryset=Recording.objects.select_related("data_key").order_by("kind", "part")),
            Prefetch("consents", queryset=ConsentRecord.objects.select_related("policy", "notice").order_by("at")),
            "breaks",
            Prefetch(
                "flags",
                queryset=Flag.objects.order_by("start_seconds", "pk").prefetch_related(
                    Prefetch("decisions", queryset=FlagDecision.objects.order_by("decided_at", "pk"))
                ),
            ),
            Prefetch("decisions", queryset=SessionDecision.objects.order_by("decided_at", "pk")),
            Prefetch("legal_holds", queryset=LegalHold.objects.filter(lifted_at__isnull=True), to_attr="standing"),
        )
        .annotate(
            has_signals=Exists(BrowserSignal.objects.filter(session=OuterRef("pk"))),
            appealed=Exists(Appeal.objects.filter(session=OuterRef("pk"))),
        )
        .order_by("-created_at")
    )


def _purge_events(session_ids: list[str]) -> dict[str, AuditEvent]:
    events = AuditEvent.objects.filter(
        action=AuditAction.PURGE_RECORDINGS, target_type=SESSION, target_id__in=session_ids
    ).order_by("seq")
    return {event.target_id: event for event in events}


def _people(ids: set[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=ids)
    return {user.pk: user.get_full_name() or user.get_username() for user in users}


def _accesses(user: Any, sessions: list[ExamSession], purged: dict[str, AuditEvent]) -> list[Access]:
    """Who accessed the recordings of these sessions, and when, from the audit log; the student's own
    reads are left out. Recordings purged since are still found through the purge's entry."""
    exams = {str(s.pk): s.exam.title for s in sessions}
    recording_session = {str(r.pk): str(s.pk) for s in sessions for r in s.recordings.all()}
    for event in purged.values():
        recording_session.update(dict.fromkeys(event.detail.get("recordings", []), event.target_id))
    events = (
        AuditEvent.objects.filter(
            Q(action__in=list(RECORDING_ACCESSES))
            & (
                Q(target_type=SESSION, target_id__in=list(exams))
                | Q(target_type=RECORDING, target_id__in=list(recording_session))
            )
        )
        .exclude(actor_id=user.pk)
        .only("at", "actor_id", "actor_label", "action", "target_type", "target_id", "purpose")
        .order_by("at", "seq")
    )
    grouped: dict[tuple[Any, ...], list[datetime]] = {}
    for event in events:
        session_id = event.target_id if event.target_type == SESSION else recording_session[event.target_id]
        day = timezone.localtime(event.at).date()
        key = (event.actor_id, event.actor_label, event.action, session_id, day, event.purpose)
        grouped.setdefault(key, []).append(event.at)
    names = _people({actor for actor, *_ in grouped if actor is not None})
    labels = {actor: names.get(actor, label) for actor, label, *_ in grouped if actor is not None}
    found = [
        Access(
            who=labels[actor] if actor is not None else SYSTEM,
            what=RECORDING_ACCESSES[action],
            exam=exams[session_id],
            why=purpose,
            first=times[0],
            last=times[-1],
            times=len(times),
        )
        for (actor, _, action, session_id, _, purpose), times in grouped.items()
    ]
    return sorted(found, key=lambda access: access.last, reverse=True)


def _latest(decisions: Any) -> FlagDecision | None:
    ordered = list(decisions)
    return ordered[-1] if ordered else None


def _session_data(session: ExamSession, purged: AuditEvent | None) -> SessionData:
    recordings = list(session.recordings.all())
    flags = list(session.flags.all())
    reviewed = session.status in REVIEWED
    held = bool(getattr(session, "standing", []))
    # Browser signals go with the recordings, on the same date, even in a session with no recording.
    signals = bool(getattr(session, "has_signals", False))
    had_recordings = bool(recordings) or signals or purged is not None
    return SessionData(
        session=session,
        recordings=recordings,
        consents=list(session.consents.all()),
        purge_at=recordings_due_at(session) if had_recordings else None,
        kept_by=kept_by(session, held=held, appealed=bool(getattr(session, "appealed", False)), at=timezone.now())
        if had_recordings
        else "",
        purged_at=purged.at if purged is not None and not (recordings or signals) else None,
        reviewed=reviewed,
        flags=[FlagOutcome(flag, _latest(flag.decisions.all())) for flag in flags] if reviewed else [],
        decisions=list(session.decisions.all()) if reviewed else [],
        flag_count=len(flags),
    )


def identity_profile_of(user: Any) -> IdentityProfile | None:
    return IdentityProfile.objects.select_related("data_key").filter(user_id=user.pk).first()


def my_data(user: Any) -> MyData:
    """Everything Invigil holds about ``user`` as a student, in their own words."""
    sessions = _sessions(user)
    purged = _purge_events([str(s.pk) for s in sessions])
    profile = identity_profile_of(user)
    held = any(getattr(s, "standing", []) for s in sessions)
    return MyData(
        user=user,
        profile=profile,
        profile_purge_at=profile_due_at(profile) if profile is not None else None,
        profile_kept_by=HOLD if profile is not None and held else "",
        profile_backups_readable_until=data_key_backups_readable_until(profile.data_key) if profile else None,
        profile_delete_refusal=identity_profile_delete_refusal(user=user),
        face_matching=biometric_consent_latest(user_id=user.pk),
        sessions=[_session_data(s, purged.get(str(s.pk))) for s in sessions],
        accesses=_accesses(user, sessions, purged),
    )


#: Audit actions of signing in and out (identity/receivers.py).
SIGN_INS = (AuditAction.LOGIN, AuditAction.LOGOUT)
SIGN_IN_FAILED = AuditAction.LOGIN_FAILED


@dataclass
class ExportExtras:
    """What the export gives besides ``MyData``: one query each, whatever the number of sessions."""

    memberships: list[CourseMembership]
    face_matching_answers: list[BiometricConsent]
    accommodations: list[Accommodation]
    transitions: dict[Any, list[SessionTransition]]
    alternative_requests: dict[Any, AlternativeRequest]
    appeals: dict[Any, Appeal]
    holds: dict[Any, list[LegalHold]]
    gaps: dict[Any, list[RecordingGap]]
    #: The succeeded analysis of each reviewed session (its score), by session id.
    scores: dict[Any, AnalysisRun]
    #: The evidence of each analysed stretch of the recordings of reviewed sessions, by recording id.
    stretches: dict[Any, list[AnalysisSegment]]
    #: Sign-ins and sign-outs of the account, and failed sign-ins under its username.
    sign_ins: list[AuditEvent]
    #: Everything else the student did, as the audit log has it.
    own_actions: list[AuditEvent]


def _grouped(rows: Any, key: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, key), []).append(row)
    return grouped


def export_extras(data: MyData) -> ExportExtras:
    """The rest of what Invigil holds about ``data.user``, for their export. Scores and the analysis's
    evidence follow the rule of the flags: shown once a person has reviewed the session."""
    user = data.user
    session_ids = [item.session.pk for item in data.sessions]
    reviewed = [item.session.pk for item in data.sessions if item.reviewed]
    recording_ids = [r.pk for item in data.sessions for r in item.recordings]
    reviewed_recordings = [r.pk for item in data.sessions if item.reviewed for r in item.recordings]
    sign_ins = AuditEvent.objects.filter(
        Q(action__in=SIGN_INS, target_type=user._meta.label_lower, target_id=str(user.pk))
        | Q(action=SIGN_IN_FAILED, detail__username=user.get_username())
    )
    return ExportExtras(
        memberships=list(CourseMembership.objects.filter(user_id=user.pk).select_related("course")),
        face_matching_answers=list(BiometricConsent.objects.filter(user_id=user.pk).order_by("at", "pk")),
        accommodations=list(
            Accommodation.objects.filter(student_id=user.pk).select_related("exam__course").order_by("exam__opens_at")
        ),
        transitions=_grouped(
            SessionTransition.objects.filter(session_id__in=session_ids).order_by("at", "pk"), "session_id"
        ),
        alternative_requests={
            request.session_id: request for request in AlternativeRequest.objects.filter(session_id__in=session_ids)
        },
        appeals={appeal.session_id: appeal for appeal in Appeal.objects.filter(session_id__in=session_ids)},
        holds=_grouped(LegalHold.objects.filter(session_id__in=session_ids).order_by("set_at", "pk"), "session_id"),
        gaps=_grouped(
            RecordingGap.objects.filter(recording_id__in=recording_ids).order_by("first_missing_seq"), "recording_id"
        ),
        scores={
            run.session_id: run
            for run in AnalysisRun.objects.filter(session_id__in=reviewed, status=RunStatus.SUCCEEDED)
        },
        stretches=_grouped(
            AnalysisSegment.objects.filter(recording_id__in=reviewed_recordings).order_by("from_seconds", "pk"),
            "recording_id",
        ),
        sign_ins=list(sign_ins.order_by("seq")),
        own_actions=list(
            AuditEvent.objects.filter(actor_id=user.pk).exclude(action__in=(*SIGN_INS, SIGN_IN_FAILED)).order_by("seq")
        ),
    )


#: The beat entry of the retention purge (proctor/settings.py CELERY_BEAT_SCHEDULE).
PURGE_TASK = "purge-expired-data"
#: A daily job that has not run for this long has stopped (beat not running, or the job failing).
PURGE_OVERDUE = timedelta(days=2)


def purge_schedule_problem() -> str | None:
    """What is wrong with the daily retention purge's schedule, in an admin's words, or None.

    The schedule lives in the database, where an admin can switch the job off; the retention promise
    then silently stops being kept, so the admin's front page says so."""
    task = PeriodicTask.objects.filter(name=PURGE_TASK).first()
    if task is None:
        return (
            "The daily retention purge is not scheduled yet: Celery beat has not started. Nothing past its "
            "retention period is being deleted."
        )
    if not task.enabled:
        return (
            f'The daily retention purge is switched off (Periodic tasks, "{PURGE_TASK}"). Recordings and identity '
            "profiles past their retention period are not being deleted until it is switched on again."
        )
    if task.last_run_at is not None and timezone.now() - task.last_run_at > PURGE_OVERDUE:
        return (
            f"The daily retention purge last ran on {moment_text(task.last_run_at)}. "
            "Check that Celery beat and a worker are running."
        )
    return None
