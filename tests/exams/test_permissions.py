"""Who may do what: every action and every page against every role, the outsider included."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exams.models import Choice, ConsentPolicy, Exam, Question, Role
from exams.permissions import RULES, Action, can, course_role, require
from identity.models import User
from tests.conftest import ROLES, World
from tests.exams.authoring_posts import exam_post, question_post
from tests.factories import ExamFactory, QuestionFactory

ALL = set(ROLES)
STAFF = {"instructor", "reviewer"}

# Expected access to course A's objects. The student owns `session`, the other student
# `other_session`; `other_instructor` teaches only course B.
EXPECTED: dict[tuple[Action, str], set[str]] = {
    (Action.VIEW_COURSE, "course"): {"student", "other_student", *STAFF, "admin"},
    (Action.VIEW_COURSE_ROSTER, "course"): {*STAFF, "admin"},
    (Action.APPOINT_REVIEWER, "course"): {"instructor", "admin"},
    (Action.REVIEW_COURSE, "course"): {*STAFF, "admin"},
    (Action.VIEW_EXAM, "exam"): {"student", "other_student", *STAFF, "admin"},
    (Action.TAKE_EXAM, "exam"): {"student", "other_student"},
    (Action.MANAGE_EXAM, "exam"): {"instructor", "admin"},
    (Action.MANAGE_EXAM, "other_exam"): {"other_instructor", "admin"},
    # Reviewers review; setting up an exam is the instructors' job.
    (Action.CREATE_EXAM, "course"): {"instructor", "admin"},
    (Action.CREATE_EXAM, "other_course"): {"other_instructor", "admin"},
    (Action.VIEW_EXAM_SESSIONS, "exam"): {*STAFF, "admin"},
    (Action.VIEW_SESSION, "session"): {"student", *STAFF, "admin"},
    (Action.VIEW_SESSION, "other_session"): {"other_student", *STAFF, "admin"},
    (Action.REVIEW_SESSION, "session"): {*STAFF, "admin"},
    (Action.RECORD_SESSION, "session"): {"student"},
    (Action.RECORD_SESSION, "other_session"): {"other_student"},
    (Action.DECIDE_SESSION, "session"): {*STAFF, "admin"},
    (Action.APPEAL_SESSION, "session"): {"student"},
    (Action.APPEAL_SESSION, "other_session"): {"other_student"},
    # Students' reasons for declining may be sensitive: instructors answer them, reviewers do not see them.
    (Action.ANSWER_ALTERNATIVE, "exam"): {"instructor", "admin"},
    (Action.ANSWER_ALTERNATIVE, "other_exam"): {"other_instructor", "admin"},
    # A manual identity check: the course's staff compare the photo ID with their class list.
    (Action.CHECK_IDENTITY, "session"): {*STAFF, "admin"},
    (Action.CHECK_IDENTITY, "other_session"): {*STAFF, "admin"},
    # The class list is the instructors' to keep; accommodations may reveal a disability.
    (Action.MANAGE_ROSTER, "course"): {"instructor", "admin"},
    (Action.MANAGE_ROSTER, "other_course"): {"other_instructor", "admin"},
    (Action.MANAGE_ACCOMMODATIONS, "exam"): {"instructor", "admin"},
    (Action.MANAGE_ACCOMMODATIONS, "other_exam"): {"other_instructor", "admin"},
    # Answers and marks: the course's staff see them, and mark short answers; admins see but do not mark.
    (Action.VIEW_MARKS, "session"): {*STAFF, "admin"},
    (Action.VIEW_MARKS, "other_session"): {*STAFF, "admin"},
    (Action.MARK_ANSWERS, "session"): {*STAFF},
    (Action.MARK_ANSWERS, "other_session"): {*STAFF},
}


def test_the_matrix_covers_every_action() -> None:
    assert {action for action, _ in EXPECTED} == set(RULES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("action", "target"), list(EXPECTED), ids=lambda v: getattr(v, "name", v))
def test_each_role_may_do_exactly_what_the_matrix_says(world: World, role: str, action: Action, target: str) -> None:
    user = world.users[role]
    obj = getattr(world, target)
    if role == "anonymous":
        from django.contrib.auth.models import AnonymousUser

        user = AnonymousUser()
    assert can(user, action, obj) is (role in EXPECTED[(action, target)])


def test_other_instructor_may_do_in_their_own_course_what_the_instructor_does_in_theirs(world: World) -> None:
    other = world.users["other_instructor"]
    assert can(other, Action.MANAGE_EXAM, world.other_exam)
    assert not can(world.users["instructor"], Action.MANAGE_EXAM, world.other_exam)


def test_a_student_who_left_the_course_still_sees_their_own_session(world: World) -> None:
    student = world.users["student"]
    world.course.memberships.filter(user=student).delete()
    student.__dict__.pop("_invigil_course_roles", None)
    assert can(student, Action.VIEW_SESSION, world.session)
    assert not can(student, Action.VIEW_EXAM, world.exam)


def test_an_inactive_user_may_do_nothing(world: World) -> None:
    admin = world.users["admin"]
    admin.is_active = False
    assert not can(admin, Action.VIEW_SESSION, world.session)


def test_require_raises_permission_denied(world: World) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        require(world.users["outsider"], Action.VIEW_EXAM, world.exam)


def test_asking_about_the_wrong_kind_of_object_is_a_programming_error(world: World) -> None:
    with pytest.raises(TypeError, match="applies to a ExamSession"):
        can(world.users["admin"], Action.VIEW_SESSION, world.exam)


# Pages, by who gets 200; everyone else signed in gets 403, anonymous is sent to log in.
PAGES: dict[str, tuple[str, Any, set[str]]] = {
    "home": ("home", lambda w: [], ALL - {"anonymous"}),
    "course": ("course_detail", lambda w: [w.course.pk], {"student", "other_student", *STAFF, "admin"}),
    "exam": ("exam_detail", lambda w: [w.exam.pk], {"student", "other_student", *STAFF, "admin"}),
    "session": ("session_detail", lambda w: [w.session.pk], {"student", *STAFF, "admin"}),
    "other course": ("course_detail", lambda w: [w.other_course.pk], {"other_instructor", "admin"}),
    "other exam": ("exam_detail", lambda w: [w.other_exam.pk], {"other_instructor", "admin"}),
    # The instructor's workspace: the course's instructors and admins only, never its reviewers or students.
    "new exam": ("exam_new", lambda w: [w.course.pk], {"instructor", "admin"}),
    "exam setup": ("exam_setup", lambda w: [w.exam.pk], {"instructor", "admin"}),
    "exam settings": ("exam_edit", lambda w: [w.exam.pk], {"instructor", "admin"}),
    "new question": ("question_new", lambda w: [w.exam.pk], {"instructor", "admin"}),
    "question": ("question_edit", lambda w: [w.exam.pk, QuestionFactory(exam=w.exam).pk], {"instructor", "admin"}),
    "other course's new exam": ("exam_new", lambda w: [w.other_course.pk], {"other_instructor", "admin"}),
    "other exam setup": ("exam_setup", lambda w: [w.other_exam.pk], {"other_instructor", "admin"}),
    "other exam's question": (
        "question_edit",
        lambda w: [w.other_exam.pk, QuestionFactory(exam=w.other_exam).pk],
        {"other_instructor", "admin"},
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_answers_each_role_as_the_matrix_says(world: World, client: Client, role: str, page: str) -> None:
    name, args, allowed = PAGES[page]
    if world.users[role] is not None:
        client.force_login(world.users[role])
    response = client.get(reverse(name, args=args(world)))
    if role in allowed:
        assert response.status_code == 200
    elif role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403


def test_a_student_sees_only_their_own_session_on_the_exam_page(world: World, client: Client) -> None:
    client.force_login(world.users["student"])
    body = client.get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert "Your attempt" in body
    assert "other_student" not in body
    assert str(world.other_session.pk) not in body


def test_staff_see_every_session_of_the_exam(world: World, client: Client) -> None:
    client.force_login(world.users["reviewer"])
    body = client.get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert str(world.session.pk) in body
    assert str(world.other_session.pk) in body


def test_an_unknown_session_is_a_404_not_an_error(world: World, client: Client) -> None:
    client.force_login(world.users["admin"])
    response = client.get("/sessions/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404


def test_the_exam_page_costs_the_same_queries_for_3_or_40_sessions(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    from tests.factories import ExamSessionFactory

    client.force_login(world.users["instructor"])
    url = reverse("exam_detail", args=[world.exam.pk])
    client.get(url)  # warm the session and the per-request caches
    with django_assert_max_num_queries(12) as few:
        client.get(url)
    for _ in range(38):
        ExamSessionFactory(exam=world.exam)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count("/sessions/") >= 40


def test_the_dashboard_costs_a_constant_number_of_queries(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    from tests.factories import CourseFactory, ExamFactory, enrol

    student = world.users["student"]
    client.force_login(student)
    client.get(reverse("home"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("home"))
    for _ in range(10):
        enrol(student, ExamFactory(course=CourseFactory()).course, "student")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("home"))


def _draft_with_a_question(w: World) -> list[Any]:
    draft = ExamFactory(course=w.course, title="Draft", published_at=None)
    QuestionFactory(exam=draft)
    return [draft.pk]


def _exam_and_question(w: World) -> list[Any]:
    """The first of two questions, so that it can move down."""
    first, _ = QuestionFactory(exam=w.exam, position=1), QuestionFactory(exam=w.exam, position=2)
    return [w.exam.pk, first.pk]


# The workspace's writes, each with a body that succeeds for those allowed. Who may: the course's
# instructors and admins. Everyone else signed in gets 403 and changes nothing.
WRITES: dict[str, tuple[str, Any, Any]] = {
    "create exam": ("exam_new", lambda w: [w.course.pk], lambda w: exam_post()),
    "change settings": ("exam_edit", lambda w: [w.exam.pk], lambda w: exam_post(w.exam, title="Renamed")),
    "duplicate": ("exam_duplicate", lambda w: [w.exam.pk], lambda w: {}),
    "publish": ("exam_setup_publish", _draft_with_a_question, lambda w: {"action": "publish"}),
    "add question": ("question_new", lambda w: [w.exam.pk], lambda w: question_post()),
    "change question": ("question_edit", _exam_and_question, lambda w: question_post(prompt="Changed?")),
    "move question": ("question_move", _exam_and_question, lambda w: {"direction": "down"}),
    "remove question": ("question_delete", _exam_and_question, lambda w: {}),
    "add consent policy": (
        "exam_consent_policy",
        lambda w: [w.exam.pk],
        lambda w: {"name": "Final", "text": "We record the webcam.", "effective_from": "2026-01-01"},
    ),
}


def _state() -> list[Any]:
    """Everything the workspace can change."""
    return [
        list(Exam.objects.order_by("pk").values_list("title", "published_at")),
        list(Question.objects.order_by("pk").values_list("prompt", "position")),
        list(Choice.objects.order_by("pk").values_list("text", "is_correct")),
        ConsentPolicy.objects.count(),
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("write", list(WRITES))
def test_each_workspace_write_answers_each_role_as_the_matrix_says(
    world: World, client: Client, role: str, write: str
) -> None:
    name, args, body = WRITES[write]
    url = reverse(name, args=args(world))
    before = _state()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    response = client.post(url, body(world))
    if role in {"instructor", "admin"}:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert not response["Location"].startswith(reverse("login"))
        assert _state() != before
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert _state() == before


@pytest.mark.django_db
def test_a_course_role_is_read_from_the_membership_alone_and_then_remembered(world: World) -> None:
    # Asked on every socket's sign-in: one row, so neither joined to the course and the user nor sorted.
    student = User.objects.get(pk=world.users["student"].pk)
    with CaptureQueriesContext(connection) as queries:
        assert course_role(student, world.course.pk) == Role.STUDENT
        assert course_role(student, world.course) == Role.STUDENT
    (query,) = [q["sql"] for q in queries.captured_queries]
    assert "JOIN" not in query
    assert "ORDER BY" not in query
