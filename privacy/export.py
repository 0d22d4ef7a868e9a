"""A student's copy of their data: a zip of their decrypted recordings, evidence pictures and photo ID,
and one JSON file with everything else Invigil holds about them (privacy/inventory.py lists what).
Written as a stream, one piece at a time, so a long exam's recordings never sit whole in memory."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from analysis.models import Flag
from exams.lifecycle import APPEAL_UNDECIDED
from exams.models import Accommodation, Answer, ExamSession, Mark
from identity.models import IdentityCheck
from identity.selectors import identity_id_photo, identity_template
from privacy.selectors import SIGN_IN_FAILED, ExportExtras, MyData, SessionData, export_extras
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction, action_label
from proctor.crypto import DecryptionError
from proctor.moments import moment_text
from recordings.models import BrowserSignal, Recording
from recordings.selectors import recording_open_thumbnail, recording_plaintext

README = """This is a copy of what Invigil holds about you, made on {made}.

data.json      everything as data: your account, courses and accommodations, your answers
               to the face-matching notice, your identity profile and identity checks,
               each exam session with its status history, consents, breaks, answers, their
               marks and the markers' comments, request for an alternative arrangement,
               browser signals, recordings, legal holds and appeal; once a person has
               reviewed a session, its analysis score, flags, the analysis's evidence
               and the reviewers' decisions; your sign-ins (and failed attempts to sign
               in under your username), what you did in Invigil as its audit log records
               it, and who accessed your recordings.
identity/      your photo ID as you gave it, if Invigil still holds it.
recordings/    each recording of each session, decrypted, as your browser recorded it
               (WebM: plays in Firefox, Chrome or VLC).
evidence/      the evidence picture of each flag of a reviewed session, decrypted (JPEG).

Recordings are deleted on the date data.json gives for each ("purge_at"), your identity
profile on its own date, unless a legal hold keeps them longer. You can delete your identity
profile yourself at any time outside an exam, from the "My data" page.

Deleting destroys the encryption key first. Database backups made before still contain that
key, locked by a second key kept apart from the database, one for each month: at the latest the
month the data was scheduled to be deleted in, or the month it was deleted in if that was later.
Invigil destroys each month's key within two days after the month ends; from then on no backup
can read what was deleted, even with every key the server still has.
"""


class _Sink(io.RawIOBase):
    """Collects what zipfile writes so that it can be handed on in pieces (zipfile streams to an
    unseekable file using data descriptors)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken, self._parts = b"".join(self._parts), []
        return taken


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _folder(session: SessionData) -> str:
    return f"{slugify(session.session.exam.title, allow_unicode=True)[:60]}-{str(session.session.pk)[:8]}"


def recording_file(session: SessionData, recording: Recording) -> str:
    return f"recordings/{_folder(session)}/{recording.kind}-part{recording.part + 1}.webm"


def evidence_file(session: SessionData, flag: Flag) -> str:
    return f"evidence/{_folder(session)}/flag-{flag.pk}-at-{flag.evidence_seconds or 0:.0f}s.jpg"


def _pictures(data: MyData) -> list[tuple[SessionData, Flag]]:
    """The flags whose evidence picture the student gets: those of reviewed sessions that still have one."""
    return [
        (item, outcome.flag)
        for item in data.sessions
        for outcome in item.flags
        if outcome.flag.evidence_thumbnail is not None and outcome.flag.evidence_recording_id is not None
    ]


def _profile(data: MyData, problems: list[str], request: HttpRequest | None) -> dict[str, Any] | None:
    profile = data.profile
    if profile is None:
        return None
    template: list[float] | None = None
    if profile.template_sealed is not None:
        try:
            opened = identity_template(user_id=data.user.pk, purpose="export", actor=data.user, request=request)
            template = [round(float(v), 6) for v in opened] if opened is not None else None
        except DecryptionError:
            problems.append("Your face template could not be decrypted; it was deleted or is damaged.")
    checks = IdentityCheck.objects.filter(user_id=data.user.pk).order_by("at")
    return {
        "face_template": {
            "exists": profile.template_sealed is not None,
            "enrolled_at": _when(profile.enrolled_at),
            "values": template,
            "about": "128 numbers computed from your face when you enrolled; your pictures were not kept.",
        },
        "id_photo": {"file": "identity/id-photo.jpg", "stored_at": _when(profile.id_photo_at)}
        if profile.id_photo_name
        else None,
        "last_used_at": _when(profile.last_used_at),
        "purge_at": _when(data.profile_purge_at),
        "kept_past_purge_date_by": data.profile_kept_by or None,
        "face_checks": [
            {
                "kind": check.get_kind_display(),
                "at": _when(check.at),
                "exam_session": check.reference or None,
                "matched": check.matched,
                "distance": check.distance,
                "threshold": check.threshold,
                "problem": check.problem or None,
            }
            for check in checks
        ],
    }


def _changed_by(actor_id: Any, student_id: Any) -> str:
    if actor_id is None:
        return "Invigil (automated)"
    return "you" if actor_id == student_id else "staff"


def _appeal_outcome(session: ExamSession) -> str:
    if session.status in APPEAL_UNDECIDED:
        return "Not decided yet"
    return session.get_status_display()


def _accommodation(accommodation: Accommodation) -> dict[str, Any]:
    return {
        "exam": accommodation.exam.title,
        "course": accommodation.exam.course.code,
        "extra_minutes": accommodation.extra_minutes,
        "time_multiplier": str(accommodation.time_multiplier) if accommodation.time_multiplier is not None else None,
        "breaks_allowed": accommodation.breaks_allowed,
        "break_minutes": accommodation.break_minutes,
        "no_camera": accommodation.no_camera,
        "speech_allowed": accommodation.speech_allowed,
        "face_covering": accommodation.face_covering,
        "alternative_arrangement": accommodation.alternative_arrangement or None,
        "note": accommodation.note or None,
    }


def _session(
    item: SessionData,
    answers: list[Answer],
    signals: list[BrowserSignal],
    extras: ExportExtras,
    pictures: dict[Any, str],
    *,
    marks: list[Mark],
) -> dict[str, Any]:
    session = item.session
    request = extras.alternative_requests.get(session.pk)
    appeal = extras.appeals.get(session.pk)
    run = extras.scores.get(session.pk)
    return {
        "id": str(session.pk),
        "exam": session.exam.title,
        "course": session.exam.course.code,
        "status": session.get_status_display(),
        "opened_at": _when(session.created_at),
        "started_at": _when(session.started_at),
        "ended_at": _when(session.ended_at),
        "status_history": [
            {
                "from": change.get_from_status_display(),
                "to": change.get_to_status_display(),
                "at": _when(change.at),
                "by": _changed_by(change.actor_id, session.student_id),
                "reason": change.reason,
            }
            for change in extras.transitions.get(session.pk, [])
        ],
        "consents": [
            {
                "policy": consent.policy.name,
                "version": consent.policy_version,
                "decision": consent.get_decision_display(),
                "at": _when(consent.at),
                "privacy_notice_version": consent.notice.version if consent.notice else None,
                "privacy_notice_sha256": consent.notice_sha256 or None,
            }
            for consent in item.consents
        ],
        "breaks": [
            {"started_at": _when(taken.started_at), "ended_at": _when(taken.ended_at)} for taken in session.breaks.all()
        ],
        "answers": [
            {
                "question": answer.question.prompt,
                "choice": answer.choice.text if answer.choice else None,
                "choices": [choice.text for choice in answer.choices.all()],
                "text": answer.text or None,
                "saved_at": _when(answer.updated_at),
            }
            for answer in answers
        ],
        "marks": [
            {
                "question": mark.question.prompt,
                "points": str(mark.points),
                "out_of": str(mark.question.points),
                "marked": "automatically" if mark.automatic else "by a person",
                "at": _when(mark.marked_at),
                "comment": mark.comment or None,
            }
            for mark in marks
        ],
        "alternative_arrangement_request": {
            "reason": request.reason,
            "made_at": _when(request.created_at),
            "status": request.get_status_display(),
            "response": request.response or None,
            "answered_at": _when(request.answered_at),
        }
        if request is not None
        else None,
        "browser_signals": [
            {"kind": signal.get_kind_display(), "at": _when(signal.client_time), "detail": signal.detail}
            for signal in signals
        ],
        "recordings": [
            {
                "file": recording_file(item, recording),
                "kind": recording.get_kind_display(),
                "part": recording.part + 1,
                "started_at": _when(recording.created_at),
                "duration_seconds": recording.duration_seconds,
                "missing_chunks": [
                    {"from": gap.first_missing_seq, "to": gap.last_missing_seq, "noticed_at": _when(gap.detected_at)}
                    for gap in extras.gaps.get(recording.pk, [])
                ],
            }
            for recording in item.recordings
        ],
        "recordings_purge_at": _when(item.purge_at),
        "recordings_kept_past_purge_date_by": item.kept_by or None,
        "recordings_purged_at": _when(item.purged_at),
        "legal_holds": [
            {"set_at": _when(hold.set_at), "lifted_at": _when(hold.lifted_at)}
            for hold in extras.holds.get(session.pk, [])
        ],
        "appeal": {
            "grounds": appeal.grounds,
            "lodged_at": _when(appeal.lodged_at),
            "outcome": _appeal_outcome(session),
        }
        if appeal is not None
        else None,
        "review": {
            "reviewed": item.reviewed,
            "flags_raised": item.flag_count,
            "analysis_score": {
                "score": run.score,
                "breakdown": run.score_breakdown,
                "sensitivity": run.sensitivity,
                "detectors_switched_off": run.exemptions,
                "finished_at": _when(run.finished_at),
                "about": "How much the automated analysis found for a person to look at; never a decision.",
            }
            if run is not None
            else None,
            "flags": [
                {
                    "what": outcome.flag.get_kind_display(),
                    "from_second": outcome.flag.start_seconds,
                    "to_second": outcome.flag.end_seconds,
                    "confidence": outcome.flag.confidence,
                    "reason": outcome.flag.reason,
                    "detector": outcome.flag.detector,
                    "evidence_picture": pictures.get(outcome.flag.pk),
                    "reviewer_verdict": outcome.verdict,
                    "reviewer_note": outcome.decision.note if outcome.decision else None,
                }
                for outcome in item.flags
            ],
            "decisions": [
                {
                    "outcome": decision.get_outcome_display(),
                    "by": decision.reviewer_name,
                    "at": _when(decision.decided_at),
                    "note": decision.note,
                }
                for decision in item.decisions
            ],
            "analysed_stretches": [
                {
                    "recording": recording_file(item, recording),
                    "from_second": stretch.from_seconds,
                    "to_second": stretch.to_seconds,
                    "detectors": stretch.detectors,
                    "evidence": stretch.evidence,
                }
                for recording in item.recordings
                for stretch in extras.stretches.get(recording.pk, [])
            ],
        }
        if item.reviewed
        else {"reviewed": False, "about": "Flags and the outcome are shown once a person has reviewed the session."},
    }


def my_data_export(data: MyData, *, request: HttpRequest | None = None) -> Iterator[bytes]:
    """The zip, piece by piece. The export itself is written to the audit log."""
    audit_record(
        actor=data.user,
        action=AuditAction.PRIVACY_EXPORT,
        target=data.user,
        request=request,
        # What was decrypted for the copy: each recording, the face template and the photo ID.
        detail={
            "sessions": len(data.sessions),
            "recordings": [str(r.pk) for s in data.sessions for r in s.recordings],
            "face_template": data.profile is not None and data.profile.template_sealed is not None,
            "id_photo": data.profile is not None and bool(data.profile.id_photo_name),
            "evidence_pictures": [flag.pk for _, flag in _pictures(data)],
        },
    )
    extras = export_extras(data)
    sink = _Sink()
    problems: list[str] = []
    session_ids = [item.session.pk for item in data.sessions]
    answers: dict[Any, list[Answer]] = {}
    for answer in (
        Answer.objects.filter(session_id__in=session_ids)
        .select_related("question", "choice")
        .prefetch_related("choices")
        .order_by("question__position", "pk")
    ):
        answers.setdefault(answer.session_id, []).append(answer)
    marks: dict[Any, list[Mark]] = {}
    for mark in (
        Mark.objects.filter(session_id__in=session_ids).select_related("question").order_by("question__position", "pk")
    ):
        marks.setdefault(mark.session_id, []).append(mark)
    signals: dict[Any, list[BrowserSignal]] = {}
    for signal in BrowserSignal.objects.filter(session_id__in=session_ids).order_by("client_time", "pk"):
        signals.setdefault(signal.session_id, []).append(signal)

    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("README.txt", README.format(made=moment_text(timezone.now())))
        yield sink.take()
        if data.profile is not None and data.profile.id_photo_name:
            try:
                photo = identity_id_photo(profile=data.profile, purpose="export", actor=data.user, request=request)
                archive.writestr("identity/id-photo.jpg", photo)
            except (DecryptionError, OSError):
                problems.append("Your photo ID could not be read; it was deleted or is damaged.")
            yield sink.take()
        for item in data.sessions:
            for recording in item.recordings:
                name = recording_file(item, recording)
                try:
                    with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as member:
                        for piece in recording_plaintext(recording):
                            member.write(piece)
                            yield sink.take()
                except (DecryptionError, OSError, ObjectDoesNotExist):
                    # ObjectDoesNotExist: the purge took it while this copy was being made.
                    problems.append(f"{name} could not be read in full; it was deleted or is damaged.")
                yield sink.take()
        pictures: dict[Any, str] = {}
        for item, flag in _pictures(data):
            source = next((r for r in item.recordings if r.pk == flag.evidence_recording_id), None)
            name = evidence_file(item, flag)
            try:
                if source is None or flag.evidence_seconds is None or flag.evidence_thumbnail is None:
                    raise ObjectDoesNotExist(name)
                jpeg = recording_open_thumbnail(
                    recording=source, moment=flag.evidence_seconds, sealed=bytes(flag.evidence_thumbnail)
                )
            except (DecryptionError, ObjectDoesNotExist):
                problems.append(f"{name} could not be read; it was deleted or is damaged.")
                continue
            archive.writestr(name, jpeg)
            pictures[flag.pk] = name
            yield sink.take()
        user = data.user
        document = {
            "made_at": _when(timezone.now()),
            "student": {
                "username": data.user.get_username(),
                "name": data.user.get_full_name(),
                "email": data.user.email,
                "account_made_at": _when(user.date_joined),
                "last_signed_in_at": _when(user.last_login),
            },
            "courses": [
                {
                    "course": membership.course.code,
                    "title": membership.course.title,
                    "role": membership.get_role_display(),
                    "since": _when(membership.created_at),
                }
                for membership in extras.memberships
            ],
            "accommodations": [_accommodation(accommodation) for accommodation in extras.accommodations],
            "face_matching_answers": [
                {
                    "notice_version": answer.notice_version,
                    "notice_sha256": answer.notice_sha256,
                    "decision": answer.get_decision_display(),
                    "at": _when(answer.at),
                    "withdrawn_at": _when(answer.withdrawn_at),
                }
                for answer in extras.face_matching_answers
            ],
            "identity_profile": _profile(data, problems, request),
            "sessions": [
                _session(
                    i,
                    answers.get(i.session.pk, []),
                    signals.get(i.session.pk, []),
                    extras,
                    pictures,
                    marks=marks.get(i.session.pk, []),
                )
                for i in data.sessions
            ],
            "sign_in_events": [
                {
                    "what": AuditAction(event.action).to_student,
                    "at": _when(event.at),
                    # A failed attempt may come from someone else: their address is not given.
                    "from_address": event.ip if event.action != SIGN_IN_FAILED else None,
                }
                for event in extras.sign_ins
            ],
            "your_actions": [
                {
                    "action": event.action,
                    "what": action_label(event.action),
                    "at": _when(event.at),
                    "on": f"{event.target_type}:{event.target_id}" if event.target_type else None,
                    "from_address": event.ip,
                }
                for event in extras.own_actions
            ],
            "recording_accesses": [
                {
                    "who": access.who,
                    "what": access.what,
                    "why": access.why,
                    "exam": access.exam,
                    "first": _when(access.first),
                    "last": _when(access.last),
                    "times": access.times,
                }
                for access in data.accesses
            ],
            "problems": problems,
        }
        archive.writestr(
            "data.json", json.dumps(document, indent=2, ensure_ascii=False), compress_type=zipfile.ZIP_DEFLATED
        )
    yield sink.take()
