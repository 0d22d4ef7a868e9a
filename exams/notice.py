"""The privacy notice a student reads before an exam: who runs it and under what authority, the purposes,
what is recorded, the automated analysis and the human review, retention, who sees the data, where it is
kept and whom to contact.

The institution writes its parts (``PrivacyNotice`` versions); what the exam records, the course's staff
and the retention periods come from the exam, the course and the institution's settings, the very ones
the purge uses, so the notice cannot promise other figures than the purge keeps. The notice is built
once as sections, shown as HTML and hashed as plain text with the same words, so the SHA-256 kept with
a consent is the hash of exactly what the page said. Reads only, apart from making an institution's
first notice (from the defaults below) when it has none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from exams.models import (
    NOTICE_PARTS,
    ConsentRecord,
    CourseMembership,
    Exam,
    Institution,
    NoticeText,
    PrivacyNotice,
    Role,
    notice_part_errors,
)

INCOMPLETE = (
    "{institution}'s privacy notice is incomplete: {what}. Nothing can be recorded until an admin adds a "
    "complete version of the notice."
)
CHANGED = (
    "The privacy notice has changed since this page was shown (it is now version {version}). "
    "Please read it again before you {answer}."
)


def default_notice_parts(institution: Institution) -> dict[str, str]:
    """The first notice of an institution that has none: true of any institution that runs Invigil
    itself, so the lobby is complete from the start; each institution replaces it with its own words."""
    name = institution.name
    return {
        "controller": (
            f"{name} runs this exam and the Invigil software that records it, on servers it controls. "
            f"{name} is responsible for your data (it is the controller)."
        ),
        "authority": (
            f"{name}'s task of examining its students fairly, under its examination regulations. Recording "
            "needs your consent as well, which you may refuse without penalty."
        ),
        "purposes": (
            "To confirm that the person taking the exam is the enrolled student and that everyone sits it under "
            "the same conditions. Nothing else: the data is not used to train software, for marketing, or for "
            "any other decision about you."
        ),
        "recipients": (
            f"{name}'s privacy officers, who handle legal holds and your requests, and the staff who decide an "
            "appeal if you make one. No one outside the institution, including the makers of Invigil."
        ),
        "location": (
            f"On servers that {name} runs or has contracted for, only in the places it has approved for personal "
            "data. Recordings and face templates are stored encrypted."
        ),
        "contact": (
            f"{name}'s privacy office (its data protection officer), to ask about your data, have it corrected, "
            "or complain. You may also complain to your data protection authority."
        ),
        "recorded": "",
        "analysis": "",
        "retention": "",
    }


def privacy_notice_current(institution: Institution) -> PrivacyNotice:
    """The institution's notice in force: its highest version (the first is made from the defaults
    when it has none)."""
    notice = PrivacyNotice.objects.filter(institution=institution).order_by("-version").first()
    if notice is None:
        notice, _ = PrivacyNotice.objects.get_or_create(
            institution=institution, version=1, defaults=default_notice_parts(institution)
        )
    return notice


def notice_incomplete_message(notice: PrivacyNotice) -> str:
    """Why nothing may be consented to or published under ``notice``, or "" when it is complete."""
    errors = notice_part_errors(notice.parts())
    if not errors:
        return ""
    missing = " or ".join(NOTICE_PARTS[name] for name in errors)
    return INCOMPLETE.format(institution=notice.institution.name, what=f"it does not say {missing}")


@dataclass(frozen=True)
class NoticeSection:
    heading: str
    paragraphs: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedNotice:
    """A notice as one student is shown it for one exam. ``text`` is what is hashed: the title, then each
    section's heading, paragraphs and list items ("- " before each), one a line, sections apart by a
    blank line; the page shows the same strings as headings, paragraphs and lists."""

    notice: PrivacyNotice
    title: str
    sections: tuple[NoticeSection, ...]

    @cached_property
    def text(self) -> str:
        blocks = [self.title]
        for section in self.sections:
            lines = [section.heading, *section.paragraphs, *(f"- {item}" for item in section.items)]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    @cached_property
    def sha256(self) -> str:
        return text_sha256(self.text)

    @cached_property
    def incomplete(self) -> str:
        return notice_incomplete_message(self.notice)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _lines(text: str) -> tuple[str, ...]:
    """An institution's part as paragraphs: one per non-empty line, spaces trimmed."""
    return tuple(line.strip() for line in (text or "").replace("\r\n", "\n").split("\n") if line.strip())


def _recorded(exam: Exam) -> tuple[str, ...]:
    items = []
    if exam.record_webcam:
        items.append("Your webcam: video of you, to check it is you taking the exam and that you are working alone.")
    if exam.record_audio:
        items.append("Your microphone: sound around you, to notice someone speaking to you.")
    if exam.record_screen:
        items.append("Your entire screen (not just this tab), to see what was on it.")
    items.append("Browser events, such as leaving the exam tab, leaving full screen, or copying and pasting.")
    items.append("Your answers, and the times you open, start and submit the exam.")
    return tuple(items)


def _staff(exam: Exam) -> tuple[str, ...]:
    members = (
        CourseMembership.objects.filter(course_id=exam.course_id, role__in=[Role.INSTRUCTOR, Role.REVIEWER])
        .select_related("user")
        .order_by("role", "user__last_name", "user__first_name", "user__username")
    )
    named = tuple(
        f"{m.user.get_full_name() or m.user.get_username()}, {m.get_role_display().lower()} of {exam.course.code}"
        for m in members
    )
    return named or (f"The instructors of {exam.course.code}",)


def notice_render(notice: PrivacyNotice, exam: Exam) -> RenderedNotice:
    """``notice`` as a student of ``exam`` is shown it, with the exam's streams, the course's staff and
    the institution's retention settings as they are now."""
    institution = notice.institution
    course = exam.course
    sections = (
        NoticeSection(
            "Who runs this exam",
            (*_lines(notice.controller), f"This notice is for {course.code} {course.title}: {exam.title}."),
        ),
        NoticeSection("Under what authority", _lines(notice.authority)),
        NoticeSection("What the data is for", _lines(notice.purposes)),
        NoticeSection(
            "What is recorded",
            ("Only during the exam, and only with your consent:",),
            _recorded(exam)
            + _lines(notice.recorded)
            + ("Face matching is optional and asked about separately, with its own notice.",),
        ),
        NoticeSection(
            "Automated analysis and human review",
            (
                "Software analyses the recording and marks moments for a person to look at, each with its reason.",
                "A person reviews every flag. No decision about you is made by a machine, and a concern is "
                "confirmed only by a second person.",
                "A lost camera or network is recorded as a technical problem, never as misconduct.",
                f"You can appeal a confirmed concern for {institution.appeal_window_days} days after it is confirmed.",
                *_lines(notice.analysis),
            ),
        ),
        NoticeSection(
            "How long it is kept",
            (),
            (
                f"Recordings, and everything derived from them, are deleted {institution.recording_retention_days} "
                "days after the exam closes.",
                "If a concern about your exam is confirmed, its recordings are kept until you can no longer appeal "
                f"({institution.appeal_window_days} days after it is confirmed), even if that is later.",
                f"Your face template and photo ID, if you give them, are deleted at most "
                f"{institution.profile_retention_days} days after they were last used.",
                "A legal hold, set by a named person with a reason, keeps data while it stands.",
                "The written record of flags and of reviewers' decisions is kept with your exam record.",
            )
            + _lines(notice.retention),
        ),
        NoticeSection(
            "Who sees it",
            ("Every viewing is logged, and your My data page shows who looked.",),
            _staff(exam) + _lines(notice.recipients),
        ),
        NoticeSection("Where it is kept", _lines(notice.location)),
        NoticeSection(
            "Whom to contact",
            (*_lines(notice.contact), "Your My data page shows your data and lets you download it."),
        ),
    )
    title = f"Privacy notice of {institution.name}, version {notice.version}"
    return RenderedNotice(notice=notice, title=title, sections=sections)


def notice_for_exam(exam: Exam) -> RenderedNotice:
    """The notice students of ``exam`` are shown today."""
    return notice_render(privacy_notice_current(exam.course.institution), exam)


def consent_notice_verifies(record: ConsentRecord) -> bool:
    """Whether the notice text kept for ``record``'s hash has that hash: the words the student was shown
    are the ones on file. False for answers given before notices (no hash)."""
    if not record.notice_sha256:
        return False
    kept = NoticeText.objects.filter(sha256=record.notice_sha256).first()
    return kept is not None and kept.notice_id == record.notice_id and text_sha256(kept.text) == record.notice_sha256
