"""The one place that answers "may this user do this to this object?" for courses, exams and sessions.

Students reach only their own sessions; instructors and reviewers only their own courses; admins
(superusers, the institution's privacy officers) everything. Views, APIs, consumers and later apps
ask here and nowhere else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models

from exams.models import Course, CourseMembership, Exam, ExamSession, Role
from proctor.audit import audit_record, subjects_of
from proctor.audit_actions import AuditAction
from proctor.models import Outcome


class Action(enum.Enum):
    VIEW_COURSE = "view course"
    VIEW_COURSE_ROSTER = "view the course roster"
    VIEW_EXAM = "view exam"
    TAKE_EXAM = "take exam"
    MANAGE_EXAM = "manage exam"
    CREATE_EXAM = "set up a new exam in this course"
    VIEW_EXAM_SESSIONS = "view the sessions of an exam"
    VIEW_SESSION = "view session"
    REVIEW_SESSION = "review session"
    RECORD_SESSION = "record session"
    APPOINT_REVIEWER = "appoint reviewer"
    REVIEW_COURSE = "review the sessions of a course"
    DECIDE_SESSION = "record review decisions on a session"
    APPEAL_SESSION = "appeal the outcome of a session"
    ANSWER_ALTERNATIVE = "see and answer requests for an alternative arrangement"
    CHECK_IDENTITY = "check a student's photo ID for a session"
    MANAGE_ROSTER = "add and remove the course's students"
    MANAGE_ACCOMMODATIONS = "set students' accommodations for an exam"
    VIEW_MARKS = "see a session's answers and marks"
    MARK_ANSWERS = "mark a session's short answers"


STAFF_ROLES = frozenset({Role.INSTRUCTOR, Role.REVIEWER})


def is_admin(user: Any) -> bool:
    return bool(user.is_active and user.is_superuser)


def course_role(user: Any, course: Course | int) -> str | None:
    """The user's role in the course, or None for an outsider."""
    course_id = course.pk if isinstance(course, Course) else course
    cache: dict[int, str | None] = user.__dict__.setdefault("_invigil_course_roles", {})
    if course_id not in cache:
        # One membership per user and course (membership_unique): no ordering to build or sort by (the model's
        # own would join the course and the user to sort one row).
        roles = (
            CourseMembership.objects.filter(course_id=course_id, user_id=user.pk)
            .order_by()
            .values_list("role", flat=True)
        )
        cache[course_id] = next(iter(roles[:1]), None)
    return cache[course_id]


def _course_of(obj: Any) -> int:
    if isinstance(obj, Course):
        return obj.pk
    if isinstance(obj, Exam):
        return obj.course_id
    if isinstance(obj, ExamSession):
        return obj.exam.course_id
    raise TypeError(f"No course rules for {type(obj).__name__}.")


def _member(user: Any, obj: Any) -> bool:
    return course_role(user, _course_of(obj)) is not None


def _staff(user: Any, obj: Any) -> bool:
    return course_role(user, _course_of(obj)) in STAFF_ROLES


def _instructor(user: Any, obj: Any) -> bool:
    return course_role(user, _course_of(obj)) == Role.INSTRUCTOR


def _enrolled_student(user: Any, obj: Any) -> bool:
    return course_role(user, _course_of(obj)) == Role.STUDENT


def _published(exam: Exam) -> bool:
    return exam.published_at is not None


def _member_of_a_visible_exam(user: Any, exam: Exam) -> bool:
    # Students see an exam once it is published; the course's staff see drafts too.
    return _staff(user, exam) or (_enrolled_student(user, exam) and _published(exam))


def _enrolled_student_of_a_published_exam(user: Any, exam: Exam) -> bool:
    return _enrolled_student(user, exam) and _published(exam)


def _own_session_or_staff(user: Any, session: ExamSession) -> bool:
    # Their own session stays visible to a student who has since left the course.
    return session.student_id == user.pk or _staff(user, session)


def _own_session(user: Any, session: ExamSession) -> bool:
    return bool(session.student_id == user.pk)


def _own_session_as_enrolled_student(user: Any, session: ExamSession) -> bool:
    return session.student_id == user.pk and _enrolled_student(user, session)


Rule = Callable[[Any, Any], bool]

# (object type, rule for non-admins, whether admins may). Admins take no exams: they are not students.
RULES: dict[Action, tuple[type, Rule, bool]] = {
    Action.VIEW_COURSE: (Course, _member, True),
    Action.VIEW_COURSE_ROSTER: (Course, _staff, True),
    Action.VIEW_EXAM: (Exam, _member_of_a_visible_exam, True),
    Action.TAKE_EXAM: (Exam, _enrolled_student_of_a_published_exam, False),
    Action.MANAGE_EXAM: (Exam, _instructor, True),
    # Setting up an exam (its questions, window and proctoring) is the instructors' job, not the reviewers'.
    Action.CREATE_EXAM: (Course, _instructor, True),
    Action.VIEW_EXAM_SESSIONS: (Exam, _staff, True),
    Action.VIEW_SESSION: (ExamSession, _own_session_or_staff, True),
    Action.REVIEW_SESSION: (ExamSession, _staff, True),
    # Only the student taking the exam streams into it; admins neither take nor record exams.
    Action.RECORD_SESSION: (ExamSession, _own_session_as_enrolled_student, False),
    Action.APPOINT_REVIEWER: (Course, _instructor, True),
    Action.REVIEW_COURSE: (Course, _staff, True),
    Action.DECIDE_SESSION: (ExamSession, _staff, True),
    # Only the student whose session it is appeals, even after leaving the course.
    Action.APPEAL_SESSION: (ExamSession, _own_session, False),
    # A student's reason for declining may be sensitive: the course's instructors answer it, not its reviewers.
    Action.ANSWER_ALTERNATIVE: (Exam, _instructor, True),
    # A manual identity check: the course's staff compare the photo ID with their class list.
    Action.CHECK_IDENTITY: (ExamSession, _staff, True),
    # The class list is the instructors' to keep; reviewers see it but do not change it.
    Action.MANAGE_ROSTER: (Course, _instructor, True),
    # Accommodations may reveal a disability: the course's instructors set them, not its reviewers.
    Action.MANAGE_ACCOMMODATIONS: (Exam, _instructor, True),
    # The course's staff see a session's answers and marks; admins too, as they see every session record.
    Action.VIEW_MARKS: (ExamSession, _staff, True),
    # Short answers are marked by the course's instructors and the reviewers they appoint (often the
    # teaching assistants who mark); admins are privacy officers, not markers. Students never see marks
    # in Invigil: the LMS takes them from the export.
    Action.MARK_ANSWERS: (ExamSession, _staff, False),
}


def can(user: Any, action: Action, obj: Any) -> bool:
    """True when ``user`` may perform ``action`` on ``obj``. Anonymous and inactive users may nothing."""
    expected_type, rule, admins_may = RULES[action]
    if not isinstance(obj, expected_type):
        raise TypeError(f"{action.value!r} applies to a {expected_type.__name__}, not a {type(obj).__name__}.")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if is_admin(user):
        return admins_may
    return rule(user, obj)


def is_staff_anywhere(user: Any) -> bool:
    """An admin, a Django staff user, or an instructor or reviewer of some course: someone who can reach
    other people's recordings or identity data."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_admin(user) or user.is_staff or _staff_of_some_course(user)


def _staff_of_some_course(user: Any) -> bool:
    return CourseMembership.objects.filter(user_id=user.pk, role__in=STAFF_ROLES).exists()


def may_check_identity_somewhere(user: Any) -> bool:
    """Whether the user may open the queue of manual identity checks at all: an admin, or staff of some
    course (each check in it is then shown only where CHECK_IDENTITY allows)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_admin(user) or _staff_of_some_course(user)


def _course_id_near(obj: Any, depth: int = 3) -> int | None:
    """The course an object belongs to, through its session, exam or recording, if any."""
    if obj is None or depth == 0:
        return None
    if isinstance(obj, Course | Exam | ExamSession):
        return _course_of(obj)
    for name in ("session", "exam", "recording", "evidence_recording", "flag"):
        related = getattr(obj, name, None)
        if isinstance(related, models.Model):
            return _course_id_near(related, depth - 1)
    return None


def audit_role(user: Any, target: Any) -> str:
    """The role an audit entry records for ``user`` acting on ``target``: admin, the course role
    (instructor, reviewer, student), the student themself, or outsider. Installed as the audit log's
    role resolver (exams.apps), so every entry names it without each caller working it out."""
    if user is None:
        return "system"
    if not user.is_authenticated:
        return "anonymous"
    if is_admin(user) or user.is_staff:
        return "admin"
    course_id = _course_id_near(target)
    if course_id is not None:
        role = course_role(user, course_id)
        if role is not None:
            return str(role)
    if user.pk in subjects_of(target):
        return "subject"
    return "outsider" if course_id is not None else "user"


def require(user: Any, action: Action, obj: Any) -> None:
    """Raise PermissionDenied unless ``can(user, action, obj)``.

    A refusal is an access attempt too: it goes into the audit log, with the role and the person whose
    data it was, before the exception (callers check before opening any transaction of their own).
    """
    if not can(user, action, obj):
        raise refusal(user, action.value, obj)


def refusal(user: Any, wanted: str, obj: Any = None, *, message: str | None = None) -> PermissionDenied:
    """Log a refused access and return the exception to raise. Anonymous visitors are sent to sign in
    before any rule is asked, so they leave no entry."""
    if user is not None and user.is_authenticated:
        audit_record(
            actor=user,
            action=AuditAction.ACCESS_REFUSED,
            target=obj,
            outcome=Outcome.REFUSED,
            detail={"wanted": wanted},
        )
    return PermissionDenied(message or f"You may not {wanted} here.")
