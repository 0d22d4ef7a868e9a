"""Writes to a course's class list and to its students' accommodations: add students one by one or
from a CSV file, remove them, appoint and remove reviewers, set and remove an accommodation. Each is
atomic, audited and refused with a reason that changes nothing.

Invigil creates no accounts here: people sign in through the institution (LTI or the admin), so an
unknown username or email is refused, never invented. Removing a student deletes only their
membership; their sessions, answers, recordings and accommodations stay with the course record.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.http import HttpRequest

from exams.models import Accommodation, Course, CourseMembership, Exam, ExamSession, Role, SessionStatus
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Unprocessable

#: A class list, not a student information system export: larger files are refused before parsing.
MAX_CSV_BYTES = 512 * 1024
MAX_CSV_ROWS = 5000
#: A first line holding one of these is a header, not a person.
CSV_HEADERS = frozenset({"username", "email", "student", "username or email", "username_or_email"})
MAX_TEXT_CHARS = 5000

#: What an accommodation changes about how an attempt is timed and proctored; fixed once it started.
PROCTORING_FIELDS = (
    "extra_minutes",
    "time_multiplier",
    "breaks_allowed",
    "break_minutes",
    "no_camera",
    "speech_allowed",
    "face_covering",
    "alternative_arrangement",
)
ACCOMMODATION_FIELDS = (*PROCTORING_FIELDS, "note", "staff_reason")


class RosterRefused(Unprocessable):
    """A change to the class list or to an accommodation that cannot be made as asked; the message
    says why in plain words. Nothing was changed."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    value: str
    reason: str


class RosterImportRefused(RosterRefused):
    """A CSV class list with bad rows: every one is reported by line, and no row was imported."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} line(s) of the file need correcting; no student was added.")
        self.problems = problems


class AccommodationRefused(RosterRefused):
    """An accommodation that cannot be saved as given; ``errors`` says why, by field ("__all__" for
    the whole). Nothing was changed."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(" ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    added: list[Any]
    #: Already students of the course: listed in the file, left as they were.
    already: list[Any]


def _name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _users_matching(values: set[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Active and inactive accounts whose username is one of ``values`` (exactly), and those whose
    email is one of them (case-insensitively), in two queries however long the list."""
    users = get_user_model().objects
    by_username = {user.get_username(): user for user in users.filter(username__in=values)}
    emails = {value.lower() for value in values if "@" in value}
    by_email: dict[str, list[Any]] = {}
    for user in users.annotate(email_lower=Lower("email")).filter(email_lower__in=emails).order_by("pk"):
        by_email.setdefault(user.email_lower, []).append(user)
    return by_username, by_email


def _user_for(value: str, by_username: dict[str, Any], by_email: dict[str, list[Any]]) -> Any:
    """The one account ``value`` names: a username exactly, else an email address. RosterRefused
    when there is none, more than one, or the account is deactivated."""
    user = by_username.get(value)
    if user is None:
        matches = by_email.get(value.lower(), []) if "@" in value else []
        if len(matches) > 1:
            raise RosterRefused(f"{len(matches)} accounts have the email {value}: give the username instead.")
        user = matches[0] if matches else None
    if user is None:
        raise RosterRefused(
            f"No account has the username or email {value!r}. Invigil does not create accounts: the person "
            "signs in once through your institution first, or an admin adds the account."
        )
    if not user.is_active:
        raise RosterRefused(f"The account of {_name(user)} is deactivated.")
    return user


def user_by_username_or_email(value: str) -> Any:
    """The one active account named by a username or an email address (see ``_user_for``)."""
    value = (value or "").strip()
    if not value:
        raise RosterRefused("Give a username or an email address.")
    return _user_for(value, *_users_matching({value}))


def _role_conflict(user: Any, role: str | None, wanted: str) -> str | None:
    """Why ``user``, whose role in the course is ``role``, cannot take the ``wanted`` one, or None."""
    if role is None:
        return None
    if role == wanted:
        return f"{_name(user)} is already a {Role(role).label.lower()} of this course."
    return (
        f"{_name(user)} already has a role in this course ({Role(role).label.lower()}): a person has one role "
        "in a course, so a student cannot review their classmates, nor a reviewer sit its exams."
    )


@transaction.atomic
def roster_student_add(
    *, course_id: int, identifier: str, actor: Any, request: HttpRequest | None = None
) -> CourseMembership:
    """Add one existing account to the course as a student, by username or email."""
    course = Course.objects.select_for_update().get(pk=course_id)
    user = user_by_username_or_email(identifier)
    role = CourseMembership.objects.filter(course=course, user=user).values_list("role", flat=True).first()
    conflict = _role_conflict(user, role, Role.STUDENT)
    if conflict:
        raise RosterRefused(conflict)
    membership = CourseMembership.objects.create(course=course, user=user, role=Role.STUDENT, appointed_by=actor)
    audit_record(actor=actor, action=AuditAction.ROSTER_STUDENT_ADD, target=membership, request=request)
    return membership


def _csv_rows(data: bytes) -> list[tuple[int, str, list[str]]]:
    """(line, first cell, the other non-blank cells) of each non-blank row; a header line is left out.
    RosterImportRefused for a file that cannot be read at all."""
    if not data.strip():
        raise RosterImportRefused([RowProblem(1, "", "The file is empty: one username or email per line.")])
    if len(data) > MAX_CSV_BYTES:
        raise RosterImportRefused(
            [RowProblem(1, "", f"The file is larger than {MAX_CSV_BYTES // 1024} KB; split the class list.")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = RowProblem(line, "", "This line is not UTF-8 text: save the file as CSV UTF-8.")
        raise RosterImportRefused([problem]) from exc
    rows: list[tuple[int, str, list[str]]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        for cells in reader:
            stripped = [cell.strip() for cell in cells]
            if not any(stripped):
                continue
            if not rows and reader.line_num == 1 and stripped[0].lower() in CSV_HEADERS:
                continue
            rows.append((reader.line_num, stripped[0], [cell for cell in stripped[1:] if cell]))
    except csv.Error as exc:
        raise RosterImportRefused([RowProblem(reader.line_num, "", f"This line is not valid CSV ({exc}).")]) from exc
    if len(rows) > MAX_CSV_ROWS:
        raise RosterImportRefused(
            [RowProblem(rows[MAX_CSV_ROWS][0], "", f"More than {MAX_CSV_ROWS:,} students: split the class list.")]
        )
    return rows


@transaction.atomic
def roster_import_csv(*, course_id: int, data: bytes, actor: Any, request: HttpRequest | None = None) -> ImportResult:
    """Add the students a CSV file lists, one username or email per line (a first line "username" or
    "email" is a header), all or none: when any line is wrong, every wrong line is reported with its
    number and reason and no one is added. Students already on the list are left as they are."""
    course = Course.objects.select_for_update().get(pk=course_id)
    rows = _csv_rows(data)
    by_username, by_email = _users_matching({value for _, value, _ in rows if value})
    roles = dict(CourseMembership.objects.filter(course=course).values_list("user_id", "role"))
    problems: list[RowProblem] = []
    seen: dict[int, int] = {}
    added: list[Any] = []
    already: list[Any] = []
    for line, value, extra in rows:
        if not value:
            problems.append(RowProblem(line, value, "The first column is empty: give a username or an email."))
            continue
        if extra:
            problems.append(RowProblem(line, value, "One username or email per line, nothing else."))
            continue
        try:
            user = _user_for(value, by_username, by_email)
        except RosterRefused as exc:
            problems.append(RowProblem(line, value, str(exc)))
            continue
        if user.pk in seen:
            problems.append(RowProblem(line, value, f"{_name(user)} is listed on line {seen[user.pk]} already."))
            continue
        seen[user.pk] = line
        role = roles.get(user.pk)
        if role == Role.STUDENT:
            already.append(user)
            continue
        conflict = _role_conflict(user, role, Role.STUDENT)
        if conflict:
            problems.append(RowProblem(line, value, conflict))
            continue
        added.append(user)
    if problems:
        raise RosterImportRefused(problems)
    CourseMembership.objects.bulk_create(
        [CourseMembership(course=course, user=user, role=Role.STUDENT, appointed_by=actor) for user in added]
    )
    audit_record(
        actor=actor,
        action=AuditAction.ROSTER_IMPORT,
        target=course,
        request=request,
        subjects=[user.pk for user in added],
        detail={"added": len(added), "already": len(already), "lines": len(rows)},
    )
    return ImportResult(added=added, already=already)


def _membership(course_id: int, user_id: int, role: str) -> CourseMembership:
    membership = (
        CourseMembership.objects.select_for_update()
        .select_related("user")
        .filter(course_id=course_id, user_id=user_id)
        .first()
    )
    if membership is None or membership.role != role:
        raise RosterRefused(f"That person is not a {Role(role).label.lower()} of this course.")
    return membership


@transaction.atomic
def roster_student_remove(
    *, course_id: int, user_id: int, actor: Any, request: HttpRequest | None = None
) -> CourseMembership:
    """Take a student off the class list. Refused while they are sitting one of the course's exams;
    otherwise only the membership goes: their sessions and everything recorded stay with the course
    record, reviewable as before, and they still see their own sessions."""
    membership = _membership(course_id, user_id, Role.STUDENT)
    sessions = ExamSession.objects.filter(exam__course_id=course_id, student_id=user_id)
    if sessions.filter(status=SessionStatus.STARTED).exists():
        raise RosterRefused(
            f"{_name(membership.user)} is sitting an exam of this course now: remove them after it has ended."
        )
    kept = sessions.count()
    membership.delete()
    audit_record(
        actor=actor,
        action=AuditAction.ROSTER_STUDENT_REMOVE,
        target=membership.user,
        request=request,
        detail={"course": course_id, "sessions_kept": kept},
    )
    return membership


@transaction.atomic
def roster_reviewer_appoint(
    *, course_id: int, identifier: str, actor: Any, request: HttpRequest | None = None
) -> CourseMembership:
    """Appoint an existing account as a reviewer of the course, by username or email; the appointing
    instructor is recorded."""
    course = Course.objects.select_for_update().get(pk=course_id)
    user = user_by_username_or_email(identifier)
    role = CourseMembership.objects.filter(course=course, user=user).values_list("role", flat=True).first()
    conflict = _role_conflict(user, role, Role.REVIEWER)
    if conflict:
        raise RosterRefused(conflict)
    membership = CourseMembership.objects.create(course=course, user=user, role=Role.REVIEWER, appointed_by=actor)
    audit_record(actor=actor, action=AuditAction.ROSTER_REVIEWER_APPOINT, target=membership, request=request)
    return membership


@transaction.atomic
def roster_reviewer_remove(
    *, course_id: int, user_id: int, actor: Any, request: HttpRequest | None = None
) -> CourseMembership:
    """End a reviewer's appointment: from now on they reach none of the course's sessions. The
    decisions they recorded stay, under their name."""
    membership = _membership(course_id, user_id, Role.REVIEWER)
    membership.delete()
    audit_record(
        actor=actor,
        action=AuditAction.ROSTER_REVIEWER_REMOVE,
        target=membership.user,
        request=request,
        detail={"course": course_id},
    )
    return membership


def _course_student(exam: Exam, student_id: int) -> Any:
    membership = (
        CourseMembership.objects.select_related("user")
        .filter(course_id=exam.course_id, user_id=student_id, role=Role.STUDENT)
        .first()
    )
    if membership is None:
        raise RosterRefused("Accommodations are for the course's students: that person is not on the class list.")
    return membership.user


def _started(exam: Exam, student_id: int) -> bool:
    return ExamSession.objects.filter(exam=exam, student_id=student_id, started_at__isnull=False).exists()


@transaction.atomic
def accommodation_set(
    *, exam_id: int, student_id: int, values: dict[str, Any], actor: Any, request: HttpRequest | None = None
) -> Accommodation:
    """Create or change one student's accommodation for one exam. Once their attempt has started, what
    it timed and proctored by stays as it was (the note and the staff's reason may still change)."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    student = _course_student(exam, student_id)
    unknown = sorted(set(values) - set(ACCOMMODATION_FIELDS))
    if unknown:
        raise AccommodationRefused({"__all__": [f"An accommodation has no field called {', '.join(unknown)}."]})
    accommodation = Accommodation.objects.filter(exam=exam, student=student).first()
    created = accommodation is None
    if accommodation is None:
        accommodation = Accommodation(exam=exam, student=student)
    before = {name: getattr(accommodation, name) for name in ACCOMMODATION_FIELDS}
    for name, value in values.items():
        setattr(accommodation, name, value.strip() if isinstance(value, str) else value)
    changed = sorted(name for name in ACCOMMODATION_FIELDS if getattr(accommodation, name) != before[name])
    if not changed:
        return accommodation
    for name in ("alternative_arrangement", "note", "staff_reason"):
        if len(getattr(accommodation, name)) > MAX_TEXT_CHARS:
            raise AccommodationRefused({name: [f"Keep this under {MAX_TEXT_CHARS:,} characters."]})
    if set(changed) & set(PROCTORING_FIELDS) and _started(exam, student.pk):
        raise AccommodationRefused(
            {
                "__all__": [
                    f"{_name(student)} has started this exam: the time, breaks and detector settings their attempt "
                    "runs under stay as they were. Only the note and the reason can still change."
                ]
            }
        )
    try:
        # The database constraint says what clean() says, only less plainly: ask clean() alone.
        accommodation.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise AccommodationRefused(exc.message_dict) from exc
    accommodation.save()
    audit_record(
        actor=actor,
        action=AuditAction.ACCOMMODATION_SET,
        target=accommodation,
        request=request,
        # Which fields changed, not their values: those may reveal a disability, and the log is permanent.
        detail={"exam": exam.pk, "created": created, "changed": changed},
    )
    return accommodation


@transaction.atomic
def accommodation_remove(*, exam_id: int, student_id: int, actor: Any, request: HttpRequest | None = None) -> None:
    """Remove a student's accommodation for an exam, before their attempt has started."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    accommodation = Accommodation.objects.select_related("student").filter(exam=exam, student_id=student_id).first()
    if accommodation is None:
        raise RosterRefused("That student has no accommodation for this exam.")
    if _started(exam, student_id):
        raise RosterRefused(
            f"{_name(accommodation.student)} has started this exam: their accommodation stays as their attempt "
            "ran under it."
        )
    accommodation.delete()
    audit_record(
        actor=actor,
        action=AuditAction.ACCOMMODATION_REMOVE,
        target=accommodation.student,
        request=request,
        detail={"exam": exam.pk},
    )
