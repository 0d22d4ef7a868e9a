"""Accounts, courses and course roles made or brought up to date from a verified launch (issue 16, item 2).

The LMS is the source of truth for who someone is and what role they have in its course; Invigil keeps
only what it needs of that:

- the account: the LMS's opaque ``sub`` (to recognise the person next time) and their given and family
  names (shown to staff reviewing their session, and to themselves). Not the email address: Invigil mails
  only password resets, and an LTI account has no password; the LMS is how the course reaches its
  students. Not the picture, the locale or the institution's other claims. An existing Invigil account
  is never matched by email, so an LMS cannot take over an account it did not make.
- the course: the LMS's context id, its title and short label.
- the role: Learner -> student, Instructor -> instructor, Teaching Assistant -> reviewer.

Every check that can refuse runs before anything is written, and all writes of one launch are one
transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from exams.authoring import ExamSettings, exam_create
from exams.models import Course, CourseMembership, Delivery, Exam, Role
from lti.errors import LaunchInvalid, LaunchNotAllowed
from lti.launch import Launch
from lti.models import LtiContext, LtiIdentity, Platform, ResourceLink
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
#: The custom parameter naming the Invigil exam an LMS item launches (set by deep linking).
EXAM_PARAMETER = "invigil_exam"


def _context_role(role: str) -> str | None:
    """The LIS context role a role URI names ("Instructor", "Instructor#TeachingAssistant"), or None for a
    system or institution role. The short forms ("Learner") the core spec still allows count too."""
    if role.startswith(MEMBERSHIP + "#"):
        return role.removeprefix(MEMBERSHIP + "#")
    if role.startswith(MEMBERSHIP + "/"):
        return role.removeprefix(MEMBERSHIP + "/")
    if "/" not in role and ":" not in role:
        return role
    return None


ADMINISTRATOR_SUFFIX = "#Administrator"
#: Teaching assistants (and their section and group variants) and graders review and mark; they do not
#: set exams up.
REVIEWER_ROLES = ("TeachingAssistant", "Instructor#TeachingAssistant", "Instructor#Grader")


def course_role_for(roles: Sequence[str]) -> str | None:
    """Invigil's role in the course for the LMS's roles: a teaching assistant or grader reviews (the
    sub-role wins over the Instructor role it comes with), an instructor instructs, a learner takes the
    exam. None for an administrator with no role in the course. Refused for anything else, or none."""
    context_roles = {name for name in (_context_role(role) for role in roles) if name}
    if any(name.startswith(REVIEWER_ROLES) for name in context_roles):
        return Role.REVIEWER
    if any(name == "Instructor" or name.startswith("Instructor#") for name in context_roles):
        return Role.INSTRUCTOR
    if any(name == "Learner" or name.startswith("Learner#") for name in context_roles):
        return Role.STUDENT
    if roles and all(role.endswith(ADMINISTRATOR_SUFFIX) or role == "Administrator" for role in roles):
        return None
    raise LaunchNotAllowed(
        "The LMS gave you no role Invigil knows in this course (learner, instructor or teaching assistant). "
        "Ask the course's instructor to check your enrolment.",
        reason="unknown_role",
        roles=list(roles)[:10],
    )


def _names(claims: dict[str, Any]) -> tuple[str, str]:
    given, family = str(claims.get("given_name") or ""), str(claims.get("family_name") or "")
    if not given and not family:
        given = str(claims.get("name") or "")
    return given[:150], family[:150]


def lti_user_provision(*, platform: Platform, sub: str, claims: dict[str, Any]) -> Any:
    """The account of the LMS user ``sub``: made on first launch (no usable password), names brought up to
    date on every launch."""
    now = timezone.now()
    given, family = _names(claims)
    identity = LtiIdentity.objects.select_related("user").filter(platform=platform, sub=sub).first()
    if identity is not None:
        user = identity.user
        if (user.first_name, user.last_name) != (given, family):
            user.first_name, user.last_name = given, family
            user.save(update_fields=["first_name", "last_name"])
        identity.last_launch_at = now
        identity.save(update_fields=["last_launch_at"])
        return user
    digest = hashlib.sha256(f"{platform.pk}:{sub}".encode()).hexdigest()[:20]
    user = get_user_model()(username=f"lti-{platform.pk}-{digest}", first_name=given, last_name=family)
    user.set_unusable_password()
    user.save()
    LtiIdentity.objects.create(platform=platform, sub=sub, user=user, last_launch_at=now)
    audit_record(
        actor=user, action=AuditAction.LTI_PROVISION, target=user, detail={"made": "account", "platform": platform.pk}
    )
    return user


def _course_code(platform: Platform, context: dict[str, Any]) -> str:
    """The context's label, made unique within the institution when another course already has it."""
    label = str(context.get("label") or context.get("title") or "LTI")[:30]
    taken = Course.objects.filter(institution=platform.institution, code=label).exists()
    if not taken:
        return label
    digest = hashlib.sha256(f"{platform.pk}:{context['id']}".encode()).hexdigest()[:8]
    return f"{label}-{digest}"


def lti_course_provision(*, platform: Platform, context: dict[str, Any], actor: Any) -> Course:
    """The course of the LMS's context: made on its first launch in the platform's institution, its title
    kept as the LMS has it."""
    title = str(context.get("title") or context.get("label") or f"Course from {platform.name}")[:200]
    link = LtiContext.objects.select_related("course").filter(platform=platform, context_id=context["id"]).first()
    if link is not None:
        if link.course.title != title:
            link.course.title = title
            link.course.save(update_fields=["title"])
        return link.course
    course = Course.objects.create(institution=platform.institution, code=_course_code(platform, context), title=title)
    LtiContext.objects.create(platform=platform, context_id=context["id"], course=course)
    audit_record(
        actor=actor, action=AuditAction.LTI_PROVISION, target=course, detail={"made": "course", "platform": platform.pk}
    )
    return course


def lti_membership_provision(*, course: Course, user: Any, role: str) -> CourseMembership:
    """The person's role in the course, as the LMS says it now (a role changed in the LMS changes here)."""
    membership = CourseMembership.objects.filter(course=course, user=user).first()
    if membership is not None and membership.role == role:
        return membership
    before = membership.role if membership is not None else None
    if membership is None:
        membership = CourseMembership.objects.create(course=course, user=user, role=role)
    else:
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(
        actor=user,
        action=AuditAction.LTI_PROVISION,
        target=membership,
        detail={"made": "role", "course": course.pk, "from": before, "to": role},
    )
    return membership


def _linked_exam(launch: Launch, context: LtiContext | None) -> tuple[Exam, ResourceLink | None]:
    """The exam the launched link stands for, refusing a link or exam of another course. The ResourceLink
    is returned unsaved the first time the link is launched."""
    link = (
        ResourceLink.objects.select_related("context", "exam")
        .filter(platform=launch.platform, resource_link_id=launch.resource_link_id)
        .first()
    )
    where = launch.audit_context()
    if link is not None:
        if link.context.context_id != launch.context_id:
            raise LaunchNotAllowed(
                "This LMS link belongs to another course. Open the exam from its own course in the LMS.",
                reason="other_course_link",
                **where,
            )
        return link.exam, None
    named = str(launch.custom.get(EXAM_PARAMETER, "")).strip()
    if not named:
        raise LaunchInvalid(
            "No Invigil exam is attached to this LMS item yet. The instructor attaches one by editing the item "
            "and choosing Invigil's content selection (deep linking).",
            reason="no_exam_attached",
            **where,
        )
    exam = Exam.objects.filter(pk=int(named)).first() if named.isdigit() else None
    if exam is None or context is None or exam.course_id != context.course_id:
        raise LaunchNotAllowed(
            "This LMS item names an Invigil exam of another course. Ask the instructor to attach an exam of "
            "this course.",
            reason="other_course_exam",
            exam=named[:20],
            **where,
        )
    return exam, ResourceLink(platform=launch.platform, resource_link_id=launch.resource_link_id or "", exam=exam)


@dataclass(frozen=True)
class Provisioned:
    user: Any
    course: Course
    role: str
    exam: Exam | None = None


def _require_context(launch: Launch) -> dict[str, Any]:
    if launch.context is None:
        raise LaunchInvalid(
            "The LMS launched Invigil outside a course (no context claim). Add Invigil to a course.",
            reason="missing_claim",
            claim="context",
            **launch.audit_context(),
        )
    return launch.context


def launch_provision(launch: Launch, *, with_exam: bool) -> Provisioned:
    """Account, course and role for a launch; with ``with_exam``, also the exam its resource link stands
    for (the link recorded on first launch). Refusals come before any write; all writes are one
    transaction."""
    context_claim = _require_context(launch)
    role = course_role_for(launch.roles)
    if role is None:
        raise LaunchNotAllowed(
            "An LMS administrator has no role in an Invigil course. Open the link as the course's instructor "
            "or a student.",
            reason="no_course_role",
            **launch.audit_context(),
        )
    with transaction.atomic():
        known_context = LtiContext.objects.filter(platform=launch.platform, context_id=context_claim["id"]).first()
        exam, new_link = _linked_exam(launch, known_context) if with_exam else (None, None)
        user = lti_user_provision(platform=launch.platform, sub=launch.sub, claims=launch.claims)
        course = lti_course_provision(platform=launch.platform, context=context_claim, actor=user)
        lti_membership_provision(course=course, user=user, role=role)
        if new_link is not None:
            new_link.context = LtiContext.objects.get(platform=launch.platform, context_id=context_claim["id"])
            new_link.save(force_insert=True)
    return Provisioned(user=user, course=course, role=role, exam=exam)


def lms_exam_draft(*, course: Any, title: str, actor: Any, request: HttpRequest | None = None) -> Exam:
    """A draft exam of the LMS standing for one of its assessments, with Invigil's defaults (open for a
    week from now, an hour allowed), for the instructor to finish (window, alternative arrangement) and
    publish."""
    now = timezone.now()
    settings = ExamSettings(
        title=title.strip()[:200] or "Assessment in the LMS",
        instructions="",
        opens_at=now,
        closes_at=now + timedelta(days=7),
        duration_minutes=60,
    )
    return exam_create(course_id=course.pk, settings=settings, actor=actor, delivery=Delivery.LMS, request=request)
