"""Writes of the lockdown app: an exam's Safe Exam Browser requirement, and the record that a student's
browser proved itself through SEB's JavaScript API. Atomic and audited; a refusal changes nothing."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from exams.models import Exam, ExamSession
from lockdown.config_key import ConfigFileError, config_key, seb_settings
from lockdown.guard import SebHashes, hashes_valid, session_mark_verified
from lockdown.models import SafeExamBrowserRequirement
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Invalid, NotAllowed
from proctor.models import Outcome

MAX_BROWSER_EXAM_KEYS = 50
_KEY = re.compile(r"^[0-9a-f]{64}$")


class RequirementRefused(Invalid):
    """The requirement cannot be saved as given; ``errors`` says why, by form field. Nothing changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors

    def details(self) -> dict[str, Any]:
        return {"errors": self.errors}


class NotSafeExamBrowser(NotAllowed):
    """The request did not prove Safe Exam Browser with the exam's configuration."""


@dataclass(frozen=True)
class ConfigUpload:
    name: str
    data: bytes
    #: The file's password, if it has one: used to read the settings, never stored.
    password: str = ""


def browser_exam_keys_parse(text: str) -> list[str]:
    """Browser Exam Keys as the instructor lists them: one a line (commas and spaces also separate),
    any case; each must be 64 hexadecimal characters. Duplicates are kept once, in the order given."""
    keys: list[str] = []
    bad: list[str] = []
    for token in re.split(r"[\s,;]+", text or ""):
        if not token:
            continue
        key = token.lower()
        if not _KEY.match(key):
            bad.append(token if len(token) <= 20 else token[:17] + "...")
        elif key not in keys:
            keys.append(key)
    if bad:
        raise RequirementRefused(
            {
                "browser_exam_keys": "A Browser Exam Key is 64 hexadecimal characters (0-9, a-f); these are not: "
                + ", ".join(bad)
                + "."
            }
        )
    if len(keys) > MAX_BROWSER_EXAM_KEYS:
        raise RequirementRefused({"browser_exam_keys": f"List at most {MAX_BROWSER_EXAM_KEYS} Browser Exam Keys."})
    return keys


@transaction.atomic
def seb_requirement_save(
    *,
    exam: Exam,
    actor: Any,
    required: bool,
    browser_exam_keys: str,
    upload: ConfigUpload | None = None,
    remove_config: bool = False,
) -> SafeExamBrowserRequirement:
    """Set whether the exam requires Safe Exam Browser, its .seb file (a new upload replaces it; its
    Config Key is computed here) and its accepted Browser Exam Keys. Refused, changing nothing, for a
    file that is not a readable SEB configuration, a malformed key, or a requirement with no key to
    check against (no student could then start)."""
    errors: dict[str, str] = {}
    keys: list[str] = []
    try:
        keys = browser_exam_keys_parse(browser_exam_keys)
    except RequirementRefused as exc:
        errors.update(exc.errors)
    key = ""
    if upload is not None:
        try:
            key = config_key(seb_settings(upload.data, upload.password))
        except ConfigFileError as exc:
            errors["config_file"] = str(exc)
    if errors:
        raise RequirementRefused(errors)

    requirement = SafeExamBrowserRequirement.objects.select_for_update().filter(exam=exam).first()
    if requirement is None:
        requirement = SafeExamBrowserRequirement(exam=exam)
    before = _summary(requirement)
    if upload is not None:
        requirement.config_file = upload.data
        requirement.config_file_name = upload.name[:200]
        requirement.config_key = key
    elif remove_config:
        requirement.config_file, requirement.config_file_name, requirement.config_key = b"", "", ""
    requirement.browser_exam_keys = keys
    requirement.required = required
    if required and not (requirement.config_key or requirement.browser_exam_keys):
        raise RequirementRefused(
            {
                "required": "To require Safe Exam Browser, upload the exam's .seb file or list at least one "
                "Browser Exam Key: without a key, no student could start."
            }
        )
    requirement.full_clean()
    requirement.save()
    after = _summary(requirement)
    if after != before:
        audit_record(
            actor=actor,
            action=AuditAction.LOCKDOWN_SET,
            target=exam,
            detail={"before": before, "after": after},
        )
    return requirement


def _summary(requirement: SafeExamBrowserRequirement) -> dict[str, Any]:
    return {
        "required": requirement.required,
        "config_file_name": requirement.config_file_name,
        "config_key": requirement.config_key,
        "browser_exam_keys": list(requirement.browser_exam_keys),
    }


def seb_javascript_verify(
    *,
    session: ExamSession,
    requirement: SafeExamBrowserRequirement,
    page_url: str,
    hashes: SebHashes,
    django_session: Any,
    actor: Any,
) -> None:
    """Check the keys SEB's JavaScript API gave a page of this exam session (hashes of the page's URL,
    which the caller has confirmed is one of this session's guarded URLs on this site) and remember
    the result in the student's signed-in session. Refused, and the refusal audited, when they do not
    prove every key the exam lists."""
    if not hashes_valid(requirement, page_url, hashes):
        audit_record(
            actor=actor,
            action=AuditAction.LOCKDOWN_REFUSED,
            target=session,
            outcome=Outcome.REFUSED,
            detail={"via": "javascript", "path": page_url.split("?", 1)[0][-200:]},
        )
        raise NotSafeExamBrowser(
            "Safe Exam Browser's keys do not match this exam's configuration. Open the exam with the "
            "configuration file your instructor gave."
        )
    session_mark_verified(django_session, session.pk, requirement)
    audit_record(actor=actor, action=AuditAction.LOCKDOWN_VERIFIED, target=session, detail={"via": "javascript"})


def seb_refusal_record(*, actor: Any, session_id: uuid.UUID | str, path: str, via: str) -> None:
    """Audit a request refused for not coming from Safe Exam Browser with the exam's configuration."""
    session = ExamSession.objects.filter(pk=session_id).first()
    audit_record(
        actor=actor,
        action=AuditAction.LOCKDOWN_REFUSED,
        target=session,
        outcome=Outcome.REFUSED,
        detail={"via": via, "path": path[-200:]},
    )
