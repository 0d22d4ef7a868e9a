"""Provisioning from the launch: the account, course and role the LMS names, made or brought up to date,
and nothing more kept than Invigil needs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from exams.models import Course, CourseMembership, Role
from lti.errors import LaunchNotAllowed
from lti.launch import CLAIM
from lti.models import LtiContext, LtiIdentity, ResourceLink
from lti.provisioning import course_role_for
from proctor.models import AuditEvent
from tests.conftest import World
from tests.lti.conftest import (
    ADMINISTRATOR,
    INSTRUCTOR,
    LEARNER,
    TEACHING_ASSISTANT,
    Lms,
    exam_link,
    made_from_launches,
    refusals,
)

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LEARNER], Role.STUDENT),
        ([f"{MEMBERSHIP}/Learner#Learner"], Role.STUDENT),
        (["Learner"], Role.STUDENT),
        ([INSTRUCTOR], Role.INSTRUCTOR),
        ([INSTRUCTOR, LEARNER], Role.INSTRUCTOR),
        ([TEACHING_ASSISTANT, INSTRUCTOR], Role.REVIEWER),
        ([f"{MEMBERSHIP}#TeachingAssistant"], Role.REVIEWER),
        ([f"{MEMBERSHIP}/Instructor#TeachingAssistantSection", INSTRUCTOR], Role.REVIEWER),
        ([f"{MEMBERSHIP}/Instructor#Grader", INSTRUCTOR], Role.REVIEWER),
        ([f"{MEMBERSHIP}/Instructor#PrimaryInstructor", INSTRUCTOR], Role.INSTRUCTOR),
        ([ADMINISTRATOR], None),
        ([ADMINISTRATOR, "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"], None),
        ([ADMINISTRATOR, LEARNER], Role.STUDENT),
    ],
)
def test_lis_roles_map_to_invigils_course_roles(roles: list[str], expected: str | None) -> None:
    assert course_role_for(roles) == expected


@pytest.mark.parametrize(
    "roles",
    [[], [f"{MEMBERSHIP}#Mentor"], ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"]],
)
def test_no_role_or_a_role_invigil_does_not_know_is_refused(roles: list[str]) -> None:
    with pytest.raises(LaunchNotAllowed, match="no role Invigil knows"):
        course_role_for(roles)


@pytest.mark.django_db
def test_a_first_launch_makes_an_account_without_a_password_keeping_only_the_names(
    world: World, lms: Lms, linked_course: Any
) -> None:
    response = lms.launch(**exam_link(world.exam.pk))
    assert response.status_code == 302
    identity = LtiIdentity.objects.get(sub="lms-user-1")
    user = identity.user
    assert not user.has_usable_password()
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "")
    assert CourseMembership.objects.get(user=user, course=world.course).role == Role.STUDENT
    assert ResourceLink.objects.get(resource_link_id="link-1").exam == world.exam
    # Signed in, and the lobby opens for them.
    lobby = lms.client.get(response["Location"])
    assert lobby.status_code == 200
    assert "Midterm" in lobby.content.decode()
    assert AuditEvent.objects.filter(action="lti.launch", actor_id=user.pk).exists()


@pytest.mark.django_db
def test_a_later_launch_updates_names_and_role_and_reuses_the_account(
    world: World, lms: Lms, linked_course: Any
) -> None:
    lms.launch(**exam_link(world.exam.pk))
    users = get_user_model().objects.count()
    response = lms.launch(given_name="Augusta", **{CLAIM + "roles": [TEACHING_ASSISTANT, INSTRUCTOR]})
    assert response.status_code == 302
    assert response["Location"] == f"/review/courses/{world.course.pk}/"
    assert get_user_model().objects.count() == users
    user = LtiIdentity.objects.get(sub="lms-user-1").user
    assert user.first_name == "Augusta"
    assert CourseMembership.objects.get(user=user, course=world.course).role == Role.REVIEWER
    change = AuditEvent.objects.filter(action="lti.provision", detail__made="role").last()
    assert change is not None
    assert (change.detail["from"], change.detail["to"]) == (Role.STUDENT, Role.REVIEWER)


@pytest.mark.django_db
def test_an_instructor_goes_to_the_exams_setup(world: World, lms: Lms, linked_course: Any) -> None:
    response = lms.launch(**{CLAIM + "roles": [INSTRUCTOR]}, **exam_link(world.exam.pk))
    assert response["Location"] == f"/exams/{world.exam.pk}/setup/"
    assert lms.client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_a_new_lms_course_becomes_a_course_of_the_platforms_institution(world: World, lms: Lms) -> None:
    # An instructor's first launch, from a course Invigil has not seen, via deep linking.
    response = lms.deep_linking(**{CLAIM + "context": {"id": "ctx-9", "label": "PHYS101", "title": "Physics"}})
    assert response.status_code == 200
    course = LtiContext.objects.get(context_id="ctx-9").course
    assert course.institution == world.course.institution
    assert course.title == "Physics"
    # PHYS101 is taken in this institution already (world.course): the code is made unique.
    assert course.code.startswith("PHYS101-")
    assert Course.objects.filter(code="PHYS101").count() == 1


@pytest.mark.django_db
def test_an_lms_administrator_without_a_course_role_is_refused_and_nothing_is_made(
    world: World, lms: Lms, linked_course: Any
) -> None:
    before = made_from_launches()
    response = lms.launch(**{CLAIM + "roles": [ADMINISTRATOR]}, **exam_link(world.exam.pk))
    assert response.status_code == 403
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["no_course_role"]


@pytest.mark.django_db
def test_a_launch_with_an_unknown_role_is_refused_and_nothing_is_made(
    world: World, lms: Lms, linked_course: Any
) -> None:
    before = made_from_launches()
    response = lms.launch(**{CLAIM + "roles": [f"{MEMBERSHIP}#Mentor"]}, **exam_link(world.exam.pk))
    assert response.status_code == 403
    assert "no role Invigil knows" in response.content.decode()
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["unknown_role"]


@pytest.mark.django_db
def test_a_launch_without_a_course_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    before = made_from_launches()
    response = lms.launch(**{CLAIM + "context": None}, **exam_link(world.exam.pk))
    assert response.status_code == 400
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["missing_claim"]


@pytest.mark.django_db
def test_an_lms_user_is_never_matched_to_an_existing_account_by_email(
    world: World, lms: Lms, linked_course: Any
) -> None:
    student = world.users["student"]
    lms.launch(email=student.email, **exam_link(world.exam.pk))
    assert LtiIdentity.objects.get(sub="lms-user-1").user != student
