"""Writes for review: a person's decision on a flag or a session, and a student's appeal.

Each is atomic and audited, takes the acting person, and refuses the system: no automated check can
decide anything here. Session outcomes move only through exams.services.session_transition, so the
state machine's rules (a concern needs a second person to confirm it, completed outcomes reopen only
on appeal) hold whichever way a decision arrives. Permission checks are the caller's, through
exams.permissions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from analysis.models import Flag
from analysis.rules import Category
from exams.lifecycle import FIRST_DECISION, UNDER_REVIEW, TransitionError, label
from exams.models import ExamSession
from exams.models import SessionStatus as S
from exams.services import session_transition
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Invalid
from proctor.moments import moment_text
from review.models import Appeal, FlagDecision, Outcome, SessionDecision, Verdict
from review.selectors import appeal_open_until

MAX_NOTE_CHARS = 5000

#: What each outcome moves the session to, and from where.
OUTCOMES: dict[str, tuple[frozenset[str], str]] = {
    Outcome.NO_CONCERN: (FIRST_DECISION, S.CLEARED),
    Outcome.REFERRED: (FIRST_DECISION, S.SECOND_REVIEW),
    Outcome.CONFIRMED: (frozenset({S.SECOND_REVIEW}), S.CONCERN_CONFIRMED),
    Outcome.SENT_BACK: (frozenset({S.SECOND_REVIEW}), S.READY_FOR_REVIEW),
}

#: Statuses in which some decision on the session can be taken.
DECIDABLE = frozenset().union(*(allowed for allowed, _ in OUTCOMES.values()))


class DecisionError(Invalid):
    """A decision that cannot be recorded; the message says why in plain words. Nothing was changed."""


def person_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())[:300]


def _person(actor: Any) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise DecisionError("Only a signed-in person can record a decision; the system never does.")


def _text(value: str, *, missing: str, name: str = "the note") -> str:
    """The written part of a decision or appeal, trimmed; refused when empty or too long."""
    value = (value or "").strip()
    if not value:
        raise DecisionError(missing)
    if len(value) > MAX_NOTE_CHARS:
        raise DecisionError(f"Keep {name} under {MAX_NOTE_CHARS:,} characters ({len(value):,} given).")
    return value


def _move(session: ExamSession, to_status: str, *, actor: Any, request: HttpRequest | None, reason: str) -> None:
    try:
        session_transition(session_id=session.pk, to_status=to_status, actor=actor, request=request, reason=reason)
    except TransitionError as exc:
        raise DecisionError(str(exc)) from exc


def _locked_session(session_id: Any) -> ExamSession:
    return ExamSession.objects.select_for_update().get(pk=session_id)


@transaction.atomic
def flag_decide(
    *, flag_id: int, verdict: str, note: str, actor: Any, request: HttpRequest | None = None
) -> FlagDecision:
    """Record a reviewer's verdict on one flag. A later decision replaces it as the current one; both are kept."""
    _person(actor)
    if verdict not in Verdict.values:
        raise DecisionError("Choose whether the flag is confirmed or dismissed.")
    note = _text(note, missing="Write a note: say what you saw at this moment.")
    flag = Flag.objects.get(pk=flag_id)
    session = _locked_session(flag.session_id)
    if session.status not in UNDER_REVIEW:
        raise DecisionError(
            f"Flags are decided while the session awaits review; it is {label(session.status).lower()}."
        )
    decision = FlagDecision.objects.create(
        flag=flag, verdict=verdict, note=note, reviewer=actor, reviewer_name=person_name(actor)
    )
    audit_record(
        actor=actor,
        action=AuditAction.FLAG_DECIDE,
        target=session,
        request=request,
        # The note stays on the decision row; the permanent log records that there is one, not its words.
        detail={
            "flag": flag.pk,
            "kind": flag.kind,
            "verdict": verdict,
            "decision": decision.pk,
            "note_chars": len(note),
        },
    )
    return decision


def decisions_open_to(actor: Any, session: ExamSession, referral: SessionDecision | None) -> tuple[Outcome, ...]:
    """The decisions ``actor`` can take on the session now, given the referral it waits on (if any):
    the person who referred a concern may only withdraw it."""
    if session.status != S.SECOND_REVIEW:
        return (Outcome.NO_CONCERN, Outcome.REFERRED)
    if referral is not None and referral.reviewer_id == actor.pk:
        return (Outcome.SENT_BACK,)
    return (Outcome.CONFIRMED, Outcome.SENT_BACK)


def undecided_flags(session: ExamSession) -> int:
    """How many of the session's possible-concern flags have no decision yet (technical ones need none)."""
    return (
        Flag.objects.filter(session=session, category=Category.CONCERN, decisions__isnull=True)
        .values("pk")
        .distinct()
        .count()
    )


@transaction.atomic
def session_decide(
    *, session_id: Any, outcome: str, note: str, actor: Any, request: HttpRequest | None = None
) -> SessionDecision:
    """Record a reviewer's decision on the whole session and move it accordingly.

    No concern clears it. A concern is referred for a second review, and only someone other than the
    person who referred it can confirm it; anyone, the referrer included, may send it back (to
    review, or back under appeal when it came from one). Every possible-concern flag must have a
    verdict first. A session whose analysis failed can be decided from the recordings alone.
    """
    _person(actor)
    if outcome not in OUTCOMES:
        raise DecisionError("Choose a decision for this session.")
    note = _text(note, missing="Write a note: give the reasons for your decision.")
    session = _locked_session(session_id)
    allowed_from, to_status = OUTCOMES[outcome]
    from_status = session.status
    if outcome == Outcome.SENT_BACK and Appeal.objects.filter(session=session).exists():
        to_status = S.APPEALED  # still the appeal's review
    if from_status not in allowed_from:
        raise DecisionError(
            f"“{Outcome(outcome).label}” cannot be decided while the session is {label(from_status).lower()}."
        )
    if outcome in (Outcome.NO_CONCERN, Outcome.REFERRED):
        waiting = undecided_flags(session)
        if waiting:
            raise DecisionError(
                f"Decide every flag first: {waiting} flag{'s' if waiting != 1 else ''} "
                f"{'have' if waiting != 1 else 'has'} no verdict yet."
            )
    # The reasons stay on the decision row (the student reads them there); the transition, which the
    # permanent audit log copies, says only what was decided and by whom.
    reason = f"{Outcome(outcome).label}, decided by {person_name(actor)}."
    if from_status == S.ANALYSIS_FAILED:
        reviewed = "Reviewed from the recordings alone: the automated analysis failed."
        _move(session, S.READY_FOR_REVIEW, actor=actor, request=request, reason=reviewed)
    _move(session, to_status, actor=actor, request=request, reason=reason)
    decision = SessionDecision.objects.create(
        session=session,
        outcome=outcome,
        note=note,
        reviewer=actor,
        reviewer_name=person_name(actor),
        from_status=from_status,
        to_status=to_status,
    )
    audit_record(
        actor=actor,
        action=AuditAction.SESSION_DECIDE,
        target=session,
        request=request,
        detail={
            "outcome": outcome,
            "from": from_status,
            "to": to_status,
            "decision": decision.pk,
            "note_chars": len(note),
        },
    )
    return decision


@transaction.atomic
def session_appeal(*, session_id: Any, grounds: str, actor: Any, request: HttpRequest | None = None) -> Appeal:
    """The student appeals a confirmed concern: the session is reopened for review. Once only."""
    _person(actor)
    grounds = _text(
        grounds,
        missing="Write your grounds for the appeal: what the reviewers should reconsider, and why.",
        name="your grounds",
    )
    session = _locked_session(session_id)
    if Appeal.objects.filter(session=session).exists():
        raise DecisionError("This outcome was already appealed once; the decision on appeal is final.")
    if session.status != S.CONCERN_CONFIRMED:
        raise DecisionError(
            f"Only a confirmed concern can be appealed; this session is {label(session.status).lower()}."
        )
    closes = appeal_open_until(session, appealed=False)
    if closes is not None and timezone.now() > closes:
        raise DecisionError(f"The time to appeal ended on {moment_text(closes)}.")
    appeal = Appeal.objects.create(session=session, grounds=grounds, lodged_by=actor)
    reopened = "Appealed by the student; the session is reopened for review."
    _move(session, S.APPEALED, actor=actor, request=request, reason=reopened)
    audit_record(
        actor=actor,
        action=AuditAction.SESSION_APPEAL,
        target=session,
        request=request,
        detail={"appeal": appeal.pk, "grounds_chars": len(grounds)},
    )
    return appeal
