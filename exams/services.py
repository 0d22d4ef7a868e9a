"""Writes to exams: every one atomic, audited, and taking the acting user."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from exams.authoring import exam_incomplete
from exams.lifecycle import ATTEMPT_ENDED, BEFORE_START, TransitionError, check_transition
from exams.marking import numeric_value, session_mark_automatically
from exams.models import (
    MAX_ALTERNATIVE_CHARS,
    MAX_CONTACT_CHARS,
    NOTICE_PARTS,
    AlternativeRequest,
    Answer,
    Choice,
    ConsentDecision,
    ConsentPolicy,
    ConsentRecord,
    Exam,
    ExamBreak,
    ExamSession,
    Institution,
    NoticeText,
    PrivacyNotice,
    Question,
    QuestionKind,
    RequestStatus,
    SessionStatus,
    SessionTransition,
    alternative_missing_message,
    notice_part_errors,
)
from exams.notice import CHANGED, RenderedNotice, notice_for_exam, notice_incomplete_message, privacy_notice_current
from exams.selectors import (
    break_allowance,
    consent_given,
    consent_outdated_reason,
    consent_policy_for,
    session_accommodation,
)
from proctor.attestations import identity_attestation_method
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Conflict, Invalid
from proctor.moments import moment_text
from proctor.realtime import broadcast_on_commit

__all__ = ["ExamUnavailable", "TransitionError", "session_transition"]

MAX_ANSWER_CHARS = 20_000
MAX_RESPONSE_CHARS = 5000
NO_POLICY_IN_EFFECT = (
    "This exam has no consent policy in effect yet, so it cannot start: nothing may be recorded without one. "
    "Please tell your instructor, or ask your institution's privacy office."
)
#: A submit or answer this soon after the deadline still counts (the page submits at zero).
SUBMIT_GRACE = timedelta(seconds=30)


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
        # However the attempt ends, a break it was on ends with it.
        ExamBreak.objects.filter(session=session, ended_at__isnull=True).update(ended_at=now)
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
        action=AuditAction.SESSION_TRANSITION,
        target=session,
        request=request,
        detail={"from": from_status, "to": to_status, "reason": reason},
    )
    event = {"session_id": str(session.pk), "status": to_status, "status_label": session.get_status_display()}
    broadcast_on_commit(session_group(session.pk), "session.status", event)
    broadcast_on_commit(exam_group(session.exam_id), "session.status", event)
    if to_status in ATTEMPT_ENDED and session.started_at is not None:
        # The answers are final: choice and numeric questions are marked now, in the same transaction.
        session_mark_automatically(session_id=session.pk)
    return session


class ExamUnavailable(Conflict):
    """The exam cannot be opened or answered now; the message says why in plain words."""


class ConsentNeeded(ExamUnavailable):
    """A newer consent policy version took effect after the student agreed: they must read it and
    agree again before they start."""

    def __init__(self, message: str, *, session_id: Any) -> None:
        super().__init__(message)
        self.session_id = session_id

    def details(self) -> dict[str, Any]:
        # The page links the student to the new version rather than leaving them stuck.
        return {"consent_url": reverse("session_consent", args=[self.session_id])}


class PublishRefused(Conflict):
    """An exam that cannot be published (or withdrawn) as asked; the message says why. Nothing changed."""


def exam_publish_gaps(exam: Exam) -> list[str]:
    """Everything that keeps ``exam`` from being published, one sentence each, or nothing: what it lacks
    itself, with the consent policy in effect on its opening day, its alternative arrangement, and the
    institution's privacy notice."""
    opening_day = max(timezone.localdate(), timezone.localdate(exam.opens_at))
    missing = exam_incomplete(exam, policy_on_opening=consent_policy_for(exam, on=opening_day))
    missing.append(alternative_missing_message(exam))
    missing.append(notice_incomplete_message(privacy_notice_current(exam.course.institution)))
    return [message for message in missing if message]


@transaction.atomic
def exam_publish(*, exam_id: int, actor: Any, request: HttpRequest | None = None) -> Exam:
    """Open the exam to its students. It must be complete (questions that can be answered and marked, a
    window still to come, a consent policy in effect when it opens), and a proctored exam must say what
    a student who declines recording does instead and whom they contact: no one is left with "be
    recorded or fail". Every gap is named at once."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    if exam.published:
        raise PublishRefused("This exam is already published.")
    missing = exam_publish_gaps(exam)
    if missing:
        raise PublishRefused(" ".join(["This exam cannot be published yet.", *missing]))
    exam.published_at = timezone.now()
    exam.save(update_fields=["published_at"])
    audit_record(actor=actor, action=AuditAction.EXAM_PUBLISH, target=exam, request=request)
    return exam


@transaction.atomic
def exam_alternative_set(
    *,
    exam_id: int,
    arrangement: str,
    contact: str,
    actor: Any,
    publish: bool = False,
    request: HttpRequest | None = None,
) -> Exam:
    """Say what a student who declines recording does instead, and whom they contact, and with
    ``publish`` publish the exam too (all or nothing). A published proctored exam cannot lose either:
    every student must have a real alternative."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    arrangement, contact = (arrangement or "").strip(), (contact or "").strip()
    if len(arrangement) > MAX_ALTERNATIVE_CHARS:
        raise PublishRefused(f"Keep the arrangement under {MAX_ALTERNATIVE_CHARS:,} characters.")
    if len(contact) > MAX_CONTACT_CHARS:
        raise PublishRefused(f"Keep the contact under {MAX_CONTACT_CHARS:,} characters.")
    exam.alternative_arrangement, exam.alternative_contact = arrangement, contact
    missing = alternative_missing_message(exam)
    if exam.published and missing:
        raise PublishRefused(missing)
    exam.save(update_fields=["alternative_arrangement", "alternative_contact"])
    audit_record(actor=actor, action=AuditAction.EXAM_ALTERNATIVE_SET, target=exam, request=request)
    if publish:
        return exam_publish(exam_id=exam.pk, actor=actor, request=request)
    return exam


@transaction.atomic
def exam_unpublish(*, exam_id: int, actor: Any, request: HttpRequest | None = None) -> Exam:
    """Take an exam back to draft, while no student has opened it yet."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    if not exam.published:
        raise PublishRefused("This exam is a draft already.")
    if exam.sessions.exists():
        raise PublishRefused("Students have opened this exam: it stays published.")
    exam.published_at = None
    exam.save(update_fields=["published_at"])
    audit_record(actor=actor, action=AuditAction.EXAM_UNPUBLISH, target=exam, request=request)
    return exam


class AlternativeAnswerRefused(Invalid):
    """An answer to a request for an alternative arrangement that cannot be recorded; the message
    says why in plain words. Nothing was changed."""


def _locked(session_id: Any) -> ExamSession:
    # Only the session row: locking its exam too would make every student of the exam wait on each other.
    return ExamSession.objects.select_for_update(of=("self",)).select_related("exam__course").get(pk=session_id)


@transaction.atomic
def session_open(*, exam: Exam, student: Any, attempt: int = 1, request: HttpRequest | None = None) -> ExamSession:
    """The student's session for this exam (for this attempt: the LMS numbers the attempts at its own
    assessments), created on first visit while the exam is open and has a consent policy in effect."""
    if attempt < 1 or (attempt > 1 and not exam.in_lms):
        raise ExamUnavailable("An exam of Invigil has one attempt per student.")
    existing = ExamSession.objects.filter(exam=exam, student=student, attempt_number=attempt).first()
    if existing is not None:
        return existing
    now = timezone.now()
    if not exam.published:
        raise ExamUnavailable("This exam is not published yet.")
    if now < exam.opens_at:
        raise ExamUnavailable(f"This exam opens on {moment_text(exam.opens_at)}.")
    if now >= exam.closes_at:
        raise ExamUnavailable("This exam has closed.")
    if consent_policy_for(exam) is None:
        raise ExamUnavailable(NO_POLICY_IN_EFFECT)
    incomplete = notice_incomplete_message(privacy_notice_current(exam.course.institution))
    if incomplete:
        raise ExamUnavailable(incomplete)
    session, created = ExamSession.objects.get_or_create(exam=exam, student=student, attempt_number=attempt)
    if created:
        audit_record(actor=student, action=AuditAction.SESSION_OPEN, target=session, request=request)
        # The exam's review dashboards list the new session without a reload (static/invigil/review-feed.js).
        broadcast_on_commit(exam_group(exam.pk), "session.opened", {"session_id": str(session.pk)})
    return session


def _policy_read(session: ExamSession, policy_id: int, *, answer: str) -> ConsentPolicy:
    """The policy version in effect, provided it is the one the student read (its id was on their form)."""
    policy = consent_policy_for(session.exam)
    if policy is None:
        raise TransitionError(NO_POLICY_IN_EFFECT)
    if policy_id != policy.pk:
        raise TransitionError(
            f"The consent policy has changed to version {policy.version}. Please read it again before you {answer}."
        )
    return policy


def _notice_read(session: ExamSession, notice_sha256: str | None, *, answer: str) -> RenderedNotice:
    """The privacy notice as the student is shown it now, provided it is the one they read (its hash was
    on their form; None when the caller shows the notice in force itself, as the demo does)."""
    shown = notice_for_exam(session.exam)
    if notice_sha256 is not None and notice_sha256 != shown.sha256:
        raise TransitionError(CHANGED.format(version=shown.notice.version, answer=answer))
    return shown


def _consent_record(session: ExamSession, policy: ConsentPolicy, shown: RenderedNotice, decision: str) -> ConsentRecord:
    """The answer, with the notice version and the hash of its exact text; the text is kept once per
    distinct text, so the hash can be checked against the words."""
    NoticeText.objects.get_or_create(sha256=shown.sha256, defaults={"notice": shown.notice, "text": shown.text})
    return ConsentRecord.objects.create(
        session=session,
        policy=policy,
        policy_version=policy.version,
        decision=decision,
        notice=shown.notice,
        notice_sha256=shown.sha256,
    )


@transaction.atomic
def session_consent(
    *,
    session_id: Any,
    policy_id: int,
    actor: Any,
    notice_sha256: str | None = None,
    request: HttpRequest | None = None,
) -> ExamSession:
    """Record consent, with its time, to the exact policy version in effect, which must be the one the
    student read, beside the privacy notice they were shown (``notice_sha256``, the hash of its text,
    must match the notice now); then move the session to "consented". Refused under an incomplete
    notice.

    A student who consented to an earlier version and has not started yet consents again to the new
    one: a second record is kept beside the first and the session stays where it is.
    """
    session = _locked(session_id)
    policy = _policy_read(session, policy_id, answer="agree")
    shown = _notice_read(session, notice_sha256, answer="agree")
    if shown.incomplete:
        raise TransitionError(shown.incomplete)
    if session.status in BEFORE_START:
        given = consent_given(session)
        if given is not None and given.policy_id == policy.pk and given.notice_id == shown.notice.pk:
            raise TransitionError(f"Your consent to version {policy.version} is already recorded.")
        _consent_record(session, policy, shown, ConsentDecision.CONSENTED)
        audit_record(
            actor=actor,
            action=AuditAction.SESSION_CONSENT_RENEWED,
            target=session,
            request=request,
            detail={
                "policy": policy.pk,
                "version": policy.version,
                "previous_policy": given.policy_id if given else None,
                "previous_version": given.policy_version if given else None,
            },
        )
        return session
    _consent_record(session, policy, shown, ConsentDecision.CONSENTED)
    return session_transition(
        session_id=session.pk,
        to_status=SessionStatus.CONSENTED,
        actor=actor,
        request=request,
        reason=f"Consented to {policy.name} version {policy.version} ({policy.scope_label.lower()}).",
    )


@transaction.atomic
def session_decline(
    *,
    session_id: Any,
    policy_id: int,
    reason: str,
    actor: Any,
    notice_sha256: str | None = None,
    request: HttpRequest | None = None,
) -> AlternativeRequest:
    """Record the decline of the policy version the student read (the one in effect), beside the
    privacy notice they were shown, and file a request for an alternative arrangement, which the
    course's instructors answer. Declining is never refused for an incomplete notice: it records
    nothing of the student."""
    session = _locked(session_id)
    policy = _policy_read(session, policy_id, answer="decline")
    shown = _notice_read(session, notice_sha256, answer="decline")
    _consent_record(session, policy, shown, ConsentDecision.DECLINED)
    session_transition(
        session_id=session.pk,
        to_status=SessionStatus.DECLINED,
        actor=actor,
        request=request,
        reason=f"Declined {policy.name} version {policy.version}; asked for an alternative arrangement.",
    )
    alternative = AlternativeRequest.objects.create(session=session, reason=reason.strip()[:5000])
    audit_record(actor=actor, action=AuditAction.ALTERNATIVE_REQUEST, target=alternative, request=request)
    return alternative


def alternative_answer_refusal(response: str) -> str | None:
    """Why ``response`` (already stripped) is not an answer that can be saved, or None when it is."""
    if not response:
        return "Write your answer: say what arrangement you offer the student."
    if len(response) > MAX_RESPONSE_CHARS:
        return f"Keep the answer under {MAX_RESPONSE_CHARS:,} characters ({len(response):,} given)."
    return None


@transaction.atomic
def alternative_answer(
    *, request_id: int, response: str, actor: Any, request: HttpRequest | None = None
) -> AlternativeRequest:
    """An instructor answers (or corrects their answer to) a student's request for an alternative
    arrangement. The student sees the answer before the exam. Permission checks are the caller's."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise AlternativeAnswerRefused("Only a signed-in person can answer a request.")
    response = (response or "").strip()
    refusal = alternative_answer_refusal(response)
    if refusal:
        raise AlternativeAnswerRefused(refusal)
    alternative = AlternativeRequest.objects.select_for_update().get(pk=request_id)
    previous = alternative.status
    alternative.status = RequestStatus.ANSWERED
    alternative.response = response
    alternative.answered_by = actor
    alternative.answered_at = timezone.now()
    alternative.save(update_fields=["status", "response", "answered_by", "answered_at"])
    audit_record(
        actor=actor,
        action=AuditAction.ALTERNATIVE_ANSWER,
        target=alternative,
        request=request,
        # The answer stays on the request; the permanent log records that there is one, not its words.
        detail={"session": str(alternative.session_id), "previous_status": previous, "response_chars": len(response)},
    )
    return alternative


def session_allowed_minutes(session: ExamSession) -> int:
    accommodation = session_accommodation(session)
    base = session.exam.duration_minutes
    return accommodation.allowed_minutes(base) if accommodation else base


@transaction.atomic
def session_begin(*, session_id: Any, actor: Any, request: HttpRequest | None = None) -> ExamSession:
    """Start the attempt: the deadline is the allowed time (accommodations included), capped by the
    exam's closing time. Refused while the student's consent is to a version that a newer one has
    replaced since: they agree to the new one first."""
    session = _locked(session_id)
    now = timezone.now()
    if now >= session.exam.closes_at:
        raise ExamUnavailable("This exam has closed.")
    if session.status in BEFORE_START:
        policy = consent_policy_for(session.exam)
        if policy is None:
            raise ExamUnavailable(NO_POLICY_IN_EFFECT)
        outdated = consent_outdated_reason(session, policy)
        if outdated:
            raise ConsentNeeded(f"{outdated} Please read it and agree again before you start.", session_id=session.pk)
    session = session_transition(
        session_id=session.pk, to_status=SessionStatus.STARTED, actor=actor, request=request, reason="Exam started."
    )
    session.deadline = min(now + timedelta(minutes=session_allowed_minutes(session)), session.exam.closes_at)
    session.save(update_fields=["deadline"])
    return session


@transaction.atomic
def answer_save(
    *,
    session_id: Any,
    question_id: int,
    actor: Any,
    choice_id: int | None = None,
    choice_ids: list[int] | None = None,
    text: str = "",
) -> Answer:
    """Save the current answer to one question: one choice (single choice), every choice ticked
    (multiple choice), a number written as text (numeric) or text. Refused after submit or past the
    deadline."""
    session = _locked(session_id)
    if session.status != SessionStatus.STARTED:
        raise ExamUnavailable("This attempt is no longer open for answers.")
    # The same grace as submit: the page flushes its last saves as the countdown reaches zero.
    if session.deadline is not None and timezone.now() > session.deadline + SUBMIT_GRACE:
        raise ExamUnavailable("Time is up; answers can no longer be changed.")
    if session.breaks.filter(ended_at__isnull=True).exists():
        raise ExamUnavailable("You are on a break: your answers open again when you come back.")
    question = Question.objects.filter(pk=question_id, exam_id=session.exam_id).first()
    if question is None:
        raise ExamUnavailable("That question is not part of this exam.")
    choice = None
    ticked: list[Choice] = []
    if question.kind == QuestionKind.SINGLE_CHOICE:
        choice = Choice.objects.filter(pk=choice_id, question=question).first() if choice_id is not None else None
        if choice_id is not None and choice is None:
            raise ExamUnavailable("That choice is not one of this question's options.")
        text = ""
    elif question.kind == QuestionKind.MULTIPLE_CHOICE:
        wanted = set(choice_ids or [])
        ticked = list(Choice.objects.filter(pk__in=wanted, question=question))
        if len(ticked) != len(wanted):
            raise ExamUnavailable("That choice is not one of this question's options.")
        text = ""
    elif len(text) > MAX_ANSWER_CHARS:
        raise ExamUnavailable(f"Answers are limited to {MAX_ANSWER_CHARS} characters.")
    elif question.kind == QuestionKind.NUMERIC and text.strip() and numeric_value(text) is None:
        raise ExamUnavailable("Write a number without thousands separators, for example 42, -3.5, 1000 or 6.02e23.")
    answer, _ = Answer.objects.update_or_create(
        session=session, question=question, defaults={"choice": choice, "text": text}
    )
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        answer.choices.set(ticked)
    return answer


def session_submit(*, session_id: Any, actor: Any, request: HttpRequest | None = None) -> ExamSession:
    """The student submits; past the deadline (and its grace) the attempt is timed out instead."""
    session = ExamSession.objects.get(pk=session_id)
    if session.status in ATTEMPT_ENDED:
        return session  # already submitted or timed out: nothing to do, and not an error for the page
    if session.deadline is not None and timezone.now() > session.deadline + SUBMIT_GRACE:
        return session_time_out(session_id=session_id)
    return session_transition(
        session_id=session_id,
        to_status=SessionStatus.SUBMITTED,
        actor=actor,
        request=request,
        reason="Submitted by the student.",
    )


def session_time_out(*, session_id: Any) -> ExamSession:
    """The system ends an attempt whose deadline has passed (no-op refusal otherwise)."""
    session = ExamSession.objects.get(pk=session_id)
    if session.deadline is None or timezone.now() < session.deadline:
        raise TransitionError("This attempt still has time left.")
    return session_transition(
        session_id=session_id,
        to_status=SessionStatus.TIMED_OUT,
        actor=None,
        reason=f"Time ran out at {moment_text(session.deadline, seconds=True)}.",
    )


def _break_close(session: ExamSession, current: ExamBreak, now: datetime) -> None:
    """Ends the break: the deadline moves on by the time the break counts for, never past closing."""
    current.ended_at = now
    current.save(update_fields=["ended_at"])
    counted = timedelta(seconds=current.counted_seconds())
    session.deadline = min(current.deadline_before + counted, session.exam.closes_at)
    session.save(update_fields=["deadline"])


@transaction.atomic
def break_start(*, session_id: Any, actor: Any, request: HttpRequest | None = None) -> ExamBreak:
    """The student steps away under their accommodation. The deadline moves on by all the break
    time they have left (up to the exam's closing time); coming back early gives the rest back."""
    session = _locked(session_id)
    now = timezone.now()
    if session.status != SessionStatus.STARTED:
        raise ExamUnavailable("A break can only be taken during the exam.")
    if session.deadline is None or now >= session.deadline:
        raise ExamUnavailable("Your time is up, so a break can no longer be taken.")
    allowance = break_allowance(session)
    if allowance.current is not None:
        raise ExamUnavailable("You are already on a break.")
    if allowance.breaks == 0:
        raise ExamUnavailable("Your accommodations for this exam include no breaks.")
    if allowance.breaks_left == 0 or allowance.seconds_left < 1:
        used = "all your break time" if allowance.seconds_left < 1 else f"all {allowance.breaks} of your breaks"
        raise ExamUnavailable(f"You have taken {used}; the exam clock keeps running.")
    taken = ExamBreak.objects.create(
        session=session,
        started_at=now,
        allowed_seconds=int(allowance.seconds_left),
        deadline_before=session.deadline,
    )
    session.deadline = min(session.deadline + timedelta(seconds=taken.allowed_seconds), session.exam.closes_at)
    session.save(update_fields=["deadline"])
    audit_record(actor=actor, action=AuditAction.BREAK_START, target=session, request=request)
    return taken


@transaction.atomic
def break_end(*, session_id: Any, actor: Any, request: HttpRequest | None = None) -> ExamBreak:
    """The student is back: the exam clock runs again, from where it stood."""
    session = _locked(session_id)
    current = session.breaks.filter(ended_at__isnull=True).first()
    if current is None:
        raise ExamUnavailable("You are not on a break.")
    _break_close(session, current, timezone.now())
    audit_record(actor=actor, action=AuditAction.BREAK_END, target=session, request=request)
    return current


def session_identity_required(session: ExamSession) -> bool:
    """Face matching applies unless the exam asks for no identity check, records no webcam, or an
    accommodation switches it off."""
    if not session.exam.identity_check_required or not session.exam.record_webcam:
        return False
    accommodation = session_accommodation(session)
    return not (accommodation and (accommodation.no_camera or accommodation.face_covering))


def session_checks_passed(
    *,
    session_id: Any,
    results: dict[str, Any],
    identity_attestation: str,
    actor: Any,
    request: HttpRequest | None = None,
) -> ExamSession:
    """The browser passed the system check (camera, microphone, entire screen, upload speed) and,
    where it applies, the identity check, proved by a fresh attestation from the identity app."""
    session = ExamSession.objects.select_related("exam").get(pk=session_id)
    identity = "not required"
    if session_identity_required(session):
        method = identity_attestation_method(
            identity_attestation, user_id=session.student_id, reference=str(session.pk)
        )
        if method is None:
            raise TransitionError(
                "Confirm your identity first: a face match, or a check of your photo ID that a person has confirmed."
            )
        identity = method
    summary = ", ".join(f"{name}: {value}" for name, value in sorted(results.items()))[:400]
    return session_transition(
        session_id=session_id,
        to_status=SessionStatus.READY,
        actor=actor,
        request=request,
        reason=f"System check passed ({summary}); identity: {identity}.",
    )


def sessions_time_out_expired() -> int:
    """End every attempt whose deadline (and grace) passed while the student's page was gone.
    Idempotent: an attempt submitted meanwhile is skipped."""
    expired = ExamSession.objects.filter(
        status=SessionStatus.STARTED, deadline__lt=timezone.now() - SUBMIT_GRACE
    ).values_list("pk", flat=True)
    count = 0
    for session_id in expired:
        try:
            session_time_out(session_id=session_id)
        except TransitionError:
            continue
        count += 1
    return count


class NoticeRefused(Invalid):
    """A privacy notice version that cannot be added as given; ``errors`` says why, by part. Nothing
    was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def privacy_notice_unchanged(latest: PrivacyNotice | None, parts: dict[str, str]) -> dict[str, str]:
    """The refusal of a "new" version that says what ``latest`` says already (by part: "__all__"), or nothing."""
    if latest is not None and latest.parts() == {name: (parts.get(name) or "").strip() for name in NOTICE_PARTS}:
        return {"__all__": f"Nothing changed: this is what version {latest.version} says already."}
    return {}


@transaction.atomic
def privacy_notice_add(
    *, institution_id: int, parts: dict[str, str], actor: Any, request: HttpRequest | None = None
) -> PrivacyNotice:
    """Add the next version of an institution's privacy notice. A changed notice is always a new
    version: the versions students were shown stay as they read them. Refused, changing nothing, when
    a required part is blank, a part is too long, a part is unknown, or nothing changed."""
    unknown = sorted(set(parts) - set(NOTICE_PARTS))
    if unknown:
        raise NoticeRefused({"__all__": f"A privacy notice has no part called {', '.join(unknown)}."})
    cleaned = {name: (parts.get(name) or "").strip() for name in NOTICE_PARTS}
    institution = Institution.objects.select_for_update().get(pk=institution_id)
    latest = PrivacyNotice.objects.filter(institution=institution).order_by("-version").first()
    errors = notice_part_errors(cleaned) or privacy_notice_unchanged(latest, cleaned)
    if errors:
        raise NoticeRefused(errors)
    notice = PrivacyNotice.objects.create(
        institution=institution, version=(latest.version if latest else 0) + 1, created_by=actor, **cleaned
    )
    changed = sorted(name for name in NOTICE_PARTS if latest is None or getattr(latest, name) != cleaned[name])
    audit_record(
        actor=actor,
        action=AuditAction.PRIVACY_NOTICE_ADD,
        target=notice,
        request=request,
        detail={"version": notice.version, "changed": changed},
    )
    return notice
