"""Writes to exams: every one atomic, audited, and taking the acting user."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from exams.lifecycle import ATTEMPT_ENDED, TransitionError, check_transition
from exams.models import ExamSession, SessionStatus, SessionTransition
from proctor.audit import audit_record
from proctor.realtime import broadcast_on_commit

__all__ = ["TransitionError", "session_transition"]


def session_group(session_id: object) -> str:
    return f"session-{session_id}"


def exam_group(exam_id: object) -> str:
    return f"exam-{exam_id}"


def _require_a_second_reviewer(session: ExamSession, actor: Any) -> None:
    """A concern is confirmed only by someone other than the person who referred it."""
    referral = session.transitions.filter(to_status=SessionStatus.SECOND_REVIEW).select_related("actor").last()
    if referral is not None and referral.actor_id == actor.pk:
        raise TransitionError(
            "A concern needs a second reviewer: someone other than the person who referred it must confirm it."
        )


@transaction.atomic
def session_transition(
    *,
    session_id: Any,
    to_status: str,
    actor: Any | None,
    reason: str,
    request: HttpRequest | None = None,
) -> ExamSession:
    """The one mutator of an exam session's status.

    Locks the row, checks the transition table, records who moved it and why, writes the audit log,
    and tells listening browsers after the transaction commits. ``actor`` is None for the system.
    Raises TransitionError (changing nothing) for a move the table does not allow.
    """
    reason = reason.strip()
    if not reason:
        raise TransitionError("Give a reason for the status change.")
    session = ExamSession.objects.select_for_update().get(pk=session_id)
    by_person = actor is not None and getattr(actor, "is_authenticated", False)
    from_status = session.status
    check_transition(from_status, to_status, by_person=by_person)
    if to_status == SessionStatus.CONCERN_CONFIRMED:
        _require_a_second_reviewer(session, actor)

    now = timezone.now()
    session.status = to_status
    session.status_changed_at = now
    fields = ["status", "status_changed_at"]
    if to_status == SessionStatus.STARTED:
        session.started_at = now
        fields.append("started_at")
    elif to_status in ATTEMPT_ENDED:
        session.ended_at = now
        fields.append("ended_at")
    session.save(update_fields=fields)

    SessionTransition.objects.create(
        session=session,
        from_status=from_status,
        to_status=to_status,
        actor=actor if by_person else None,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action="session.transition",
        target=session,
        request=request,
        detail={"from": from_status, "to": to_status, "reason": reason},
    )
    event = {"session_id": str(session.pk), "status": to_status, "status_label": session.get_status_display()}
    broadcast_on_commit(session_group(session.pk), "session.status", event)
    broadcast_on_commit(exam_group(session.exam_id), "session.status", event)
    return session
