"""The fixed cast of users and the world they live in.

Course A has an exam with two students' sessions, an instructor and a reviewer; course B has its own
instructor. The admin is a superuser; the outsider belongs to no course.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from exams.models import Course, Exam, ExamSession, Role
from tests.factories import CourseFactory, ExamFactory, ExamSessionFactory, UserFactory, enrol
from tests.proctor.tamper import audit_triggers_drop, audit_triggers_ensure

ROLES = ("student", "other_student", "instructor", "other_instructor", "reviewer", "admin", "outsider", "anonymous")


@pytest.fixture(autouse=True)
def _audit_log_stays_append_only(request: pytest.FixtureRequest) -> Any:
    """Every test runs with the append-only triggers in place. Tests that commit (transactional ones,
    browser tests) end with pytest-django flushing every table, which the triggers would refuse, so
    they are lifted just for that flush and put back before the next test."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = bool(names & {"transactional_db", "live_server"} or (marker and marker.kwargs.get("transaction")))
    if not (marker or names & {"db", "transactional_db", "live_server"}):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    audit_triggers_ensure()
    yield
    if transactional:
        audit_triggers_drop()


@dataclass
class World:
    course: Course
    other_course: Course
    exam: Exam
    other_exam: Exam
    session: ExamSession
    other_session: ExamSession
    users: dict[str, Any]


@pytest.fixture
def world(db: None) -> World:
    course = CourseFactory(code="PHYS101")
    other_course = CourseFactory(code="CHEM201", institution=course.institution)
    users = {
        "student": UserFactory(username="student"),
        "other_student": UserFactory(username="other_student"),
        "instructor": UserFactory(username="instructor"),
        "other_instructor": UserFactory(username="other_instructor"),
        "reviewer": UserFactory(username="reviewer"),
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
        "outsider": UserFactory(username="outsider"),
        "anonymous": None,
    }
    enrol(users["student"], course, Role.STUDENT)
    enrol(users["other_student"], course, Role.STUDENT)
    enrol(users["instructor"], course, Role.INSTRUCTOR)
    enrol(users["reviewer"], course, Role.REVIEWER)
    enrol(users["other_instructor"], other_course, Role.INSTRUCTOR)
    exam = ExamFactory(course=course, title="Midterm")
    other_exam = ExamFactory(course=other_course, title="Final")
    return World(
        course=course,
        other_course=other_course,
        exam=exam,
        other_exam=other_exam,
        session=ExamSessionFactory(exam=exam, student=users["student"]),
        other_session=ExamSessionFactory(exam=exam, student=users["other_student"]),
        users=users,
    )


@pytest.fixture
def student(world: World) -> Any:
    return world.users["student"]


@pytest.fixture
def instructor(world: World) -> Any:
    return world.users["instructor"]


@pytest.fixture
def admin_user(world: World) -> Any:
    return world.users["admin"]
