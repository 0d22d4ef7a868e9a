"""A student's copy of their data: a zip of their decrypted recordings and photo ID, and one JSON
file with everything else Invigil holds about them. Written as a stream, one piece at a time, so a
long exam's recordings never sit whole in memory."""

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

from exams.models import Answer
from identity.models import IdentityCheck
from identity.selectors import identity_id_photo, identity_template
from privacy.selectors import MyData, SessionData
from proctor.audit import audit_record
from proctor.crypto import DecryptionError
from recordings.models import BrowserSignal, Recording
from recordings.selectors import recording_plaintext

README = """This is a copy of what Invigil holds about you, made on {made}.

data.json      everything as data: your identity profile, each exam session with its
               consents, answers, browser signals, recordings, flags and review outcome
               (once a person has reviewed it), and who accessed your recordings.
identity/      your photo ID as you gave it, if Invigil still holds it.
recordings/    each recording of each session, decrypted, as your browser recorded it
               (WebM: plays in Firefox, Chrome or VLC).

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


def recording_file(session: SessionData, recording: Recording) -> str:
    folder = f"{slugify(session.session.exam.title, allow_unicode=True)[:60]}-{str(session.session.pk)[:8]}"
    return f"recordings/{folder}/{recording.kind}-part{recording.part + 1}.webm"


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


def _session(item: SessionData, answers: list[Answer], signals: list[BrowserSignal]) -> dict[str, Any]:
    session = item.session
    return {
        "id": str(session.pk),
        "exam": session.exam.title,
        "course": session.exam.course.code,
        "status": session.get_status_display(),
        "opened_at": _when(session.created_at),
        "started_at": _when(session.started_at),
        "ended_at": _when(session.ended_at),
        "consents": [
            {
                "policy": consent.policy.name,
                "version": consent.policy_version,
                "decision": consent.get_decision_display(),
                "at": _when(consent.at),
            }
            for consent in item.consents
        ],
        "answers": [
            {
                "question": answer.question.prompt,
                "choice": answer.choice.text if answer.choice else None,
                "text": answer.text or None,
                "saved_at": _when(answer.updated_at),
            }
            for answer in answers
        ],
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
            }
            for recording in item.recordings
        ],
        "recordings_purge_at": _when(item.purge_at),
        "recordings_kept_past_purge_date_by": item.kept_by or None,
        "recordings_purged_at": _when(item.purged_at),
        "review": {
            "reviewed": item.reviewed,
            "flags_raised": item.flag_count,
            "flags": [
                {
                    "what": outcome.flag.get_kind_display(),
                    "from_second": outcome.flag.start_seconds,
                    "to_second": outcome.flag.end_seconds,
                    "confidence": outcome.flag.confidence,
                    "reason": outcome.flag.reason,
                    "detector": outcome.flag.detector,
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
        }
        if item.reviewed
        else {"reviewed": False, "about": "Flags and the outcome are shown once a person has reviewed the session."},
    }


def my_data_export(data: MyData, *, request: HttpRequest | None = None) -> Iterator[bytes]:
    """The zip, piece by piece. The export itself is written to the audit log."""
    audit_record(
        actor=data.user,
        action="privacy.export",
        target=data.user,
        request=request,
        # What was decrypted for the copy: each recording, the face template and the photo ID.
        detail={
            "sessions": len(data.sessions),
            "recordings": [str(r.pk) for s in data.sessions for r in s.recordings],
            "face_template": data.profile is not None and data.profile.template_sealed is not None,
            "id_photo": data.profile is not None and bool(data.profile.id_photo_name),
        },
    )
    sink = _Sink()
    problems: list[str] = []
    session_ids = [item.session.pk for item in data.sessions]
    answers: dict[Any, list[Answer]] = {}
    for answer in (
        Answer.objects.filter(session_id__in=session_ids)
        .select_related("question", "choice")
        .order_by("question__position", "pk")
    ):
        answers.setdefault(answer.session_id, []).append(answer)
    signals: dict[Any, list[BrowserSignal]] = {}
    for signal in BrowserSignal.objects.filter(session_id__in=session_ids).order_by("client_time", "pk"):
        signals.setdefault(signal.session_id, []).append(signal)

    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("README.txt", README.format(made=timezone.localtime().strftime("%d %B %Y at %H:%M")))
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
        document = {
            "made_at": _when(timezone.now()),
            "student": {
                "username": data.user.get_username(),
                "name": data.user.get_full_name(),
                "email": data.user.email,
            },
            "identity_profile": _profile(data, problems, request),
            "sessions": [
                _session(i, answers.get(i.session.pk, []), signals.get(i.session.pk, [])) for i in data.sessions
            ],
            "recording_accesses": [
                {
                    "who": access.who,
                    "what": access.what,
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
