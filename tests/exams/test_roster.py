"""The class list: students added one by one or from a CSV file (all or none, every bad line reported),
removed without losing their sessions, reviewers appointed and removed, each refusal changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from exams.models import CourseMembership, ExamSession, Role, SessionStatus
from exams.roster import (
    MAX_CSV_BYTES,
    RosterImportRefused,
    RosterRefused,
    roster_import_csv,
    roster_reviewer_appoint,
    roster_reviewer_remove,
    roster_student_add,
    roster_student_remove,
)
from proctor.models import AuditEvent, AuditSubject
from tests.conftest import World, client_as
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def roles(world: World) -> dict[str, str]:
    return dict(CourseMembership.objects.filter(course=world.course).values_list("user__username", "role"))


def subjects(event: AuditEvent) -> list[int]:
    return sorted(AuditSubject.objects.filter(seq=event.seq).values_list("subject_id", flat=True))


def import_csv(world: World, text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return roster_import_csv(course_id=world.course.pk, data=data, actor=world.users["instructor"])


# --- One by one -----------------------------------------------------------------------------------


def test_an_instructor_adds_an_existing_account_by_username_or_by_email(world: World) -> None:
    ada = UserFactory(username="ada", email="Ada.Lovelace@Example.org")
    grace = UserFactory(username="grace")
    roster_student_add(
        course_id=world.course.pk, identifier=" ada.lovelace@example.ORG ", actor=world.users["instructor"]
    )
    membership = roster_student_add(course_id=world.course.pk, identifier="grace", actor=world.users["instructor"])
    assert roles(world)["ada"] == roles(world)["grace"] == Role.STUDENT
    assert membership.appointed_by == world.users["instructor"]
    event = AuditEvent.objects.filter(action="roster.student_add").latest("id")
    assert (event.actor_id, subjects(event)) == (world.users["instructor"].pk, [grace.pk])
    assert subjects(AuditEvent.objects.filter(action="roster.student_add").earliest("id")) == [ada.pk]


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("", "Give a username"),
        ("nobody", "No account has the username or email 'nobody'. Invigil does not create accounts"),
        ("student", "already a student"),
        ("reviewer", r"already has a role in this course \(reviewer\): a person has one role"),
        ("shared@example.org", "2 accounts have the email shared@example.org: give the username"),
        ("gone", "deactivated"),
    ],
)
def test_adding_a_student_is_refused_with_a_reason_and_changes_nothing(
    world: World, identifier: str, message: str
) -> None:
    UserFactory(username="twin1", email="shared@example.org")
    UserFactory(username="twin2", email="SHARED@example.org")
    UserFactory(username="gone", is_active=False)
    before = roles(world)
    with pytest.raises(RosterRefused, match=message):
        roster_student_add(course_id=world.course.pk, identifier=identifier, actor=world.users["instructor"])
    assert roles(world) == before
    assert not AuditEvent.objects.filter(action="roster.student_add").exists()


# --- CSV import -----------------------------------------------------------------------------------


def test_a_clean_file_adds_everyone_at_once_and_leaves_those_already_listed(world: World) -> None:
    UserFactory(username="ada", email="ada@example.org")
    UserFactory(username="grace")
    result = import_csv(world, "\ufeffusername\r\nada@example.org\r\n\r\n  grace  \r\nstudent\r\n")
    assert sorted(u.username for u in result.added) == ["ada", "grace"]
    assert [u.username for u in result.already] == ["student"]
    assert roles(world)["ada"] == roles(world)["grace"] == Role.STUDENT
    event = AuditEvent.objects.get(action="roster.import")
    assert event.detail == {"added": 2, "already": 1, "lines": 3}
    assert len(subjects(event)) == 2


def test_a_file_with_bad_lines_reports_each_by_number_and_imports_nobody(world: World) -> None:
    UserFactory(username="ada")
    UserFactory(username="grace")
    text = "ada\nnobody\ngrace,extra\nreviewer\n\nADA\nada\n,\n"
    before = roles(world)
    with pytest.raises(RosterImportRefused) as refused:
        import_csv(world, text)
    problems = [(p.line, p.value, p.reason.split(":")[0].split(".")[0]) for p in refused.value.problems]
    assert problems == [
        (2, "nobody", "No account has the username or email 'nobody'"),
        (3, "grace", "One username or email per line, nothing else"),
        (4, "reviewer", f"{world.users['reviewer'].get_full_name()} already has a role in this course (reviewer)"),
        (6, "ADA", "No account has the username or email 'ADA'"),
        (7, "ada", f"{UserFactory(username='ada').get_full_name()} is listed on line 1 already"),
    ]
    assert roles(world) == before
    assert not AuditEvent.objects.filter(action="roster.import").exists()
    # Corrected, the same file imports.
    assert [u.username for u in import_csv(world, "ada\ngrace\n").added] == ["ada", "grace"]


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"", 1, "The file is empty"),
        (b"ada\n\xff\xfe\n", 2, "not UTF-8"),
        (b"a" * (MAX_CSV_BYTES + 1), 1, "larger than"),
        (b'ada\n"grace\n', 2, "not valid CSV"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(world: World, data: bytes, line: int, reason: str) -> None:
    UserFactory(username="ada")
    with pytest.raises(RosterImportRefused) as refused:
        import_csv(world, data)
    assert [(p.line, reason in p.reason) for p in refused.value.problems] == [(line, True)]
    assert "ada" not in roles(world)


# --- Removing and reviewers -----------------------------------------------------------------------


def test_removing_a_student_keeps_their_sessions_and_they_still_see_their_own(world: World) -> None:
    student = world.users["student"]
    roster_student_remove(course_id=world.course.pk, user_id=student.pk, actor=world.users["instructor"])
    assert "student" not in roles(world)
    assert ExamSession.objects.filter(pk=world.session.pk, student=student).exists()
    assert AuditEvent.objects.get(action="roster.student_remove").detail == {
        "course": world.course.pk,
        "sessions_kept": 1,
    }
    assert client_as(world, "student").get(reverse("session_detail", args=[world.session.pk])).status_code == 200
    assert client_as(world, "reviewer").get(reverse("session_detail", args=[world.session.pk])).status_code == 200


def test_a_student_sitting_an_exam_is_not_removed(world: World) -> None:
    ExamSession.objects.filter(pk=world.session.pk).update(status=SessionStatus.STARTED)
    with pytest.raises(RosterRefused, match="sitting an exam of this course now"):
        roster_student_remove(course_id=world.course.pk, user_id=world.users["student"].pk, actor=world.users["admin"])
    assert roles(world)["student"] == Role.STUDENT


def test_only_a_student_is_removed_as_a_student_and_only_a_reviewer_as_a_reviewer(world: World) -> None:
    actor = world.users["instructor"]
    with pytest.raises(RosterRefused, match="not a student of this course"):
        roster_student_remove(course_id=world.course.pk, user_id=world.users["reviewer"].pk, actor=actor)
    with pytest.raises(RosterRefused, match="not a reviewer of this course"):
        roster_reviewer_remove(course_id=world.course.pk, user_id=world.users["student"].pk, actor=actor)
    with pytest.raises(RosterRefused, match="not a student of this course"):
        roster_student_remove(course_id=world.course.pk, user_id=world.users["other_instructor"].pk, actor=actor)
    assert roles(world)["reviewer"] == Role.REVIEWER


def test_an_instructor_appoints_a_reviewer_and_ends_the_appointment(world: World) -> None:
    UserFactory(username="tess", email="tess@example.org")
    membership = roster_reviewer_appoint(
        course_id=world.course.pk, identifier="tess@example.org", actor=world.users["instructor"]
    )
    assert (membership.role, membership.appointed_by) == (Role.REVIEWER, world.users["instructor"])
    with pytest.raises(RosterRefused, match="already a reviewer"):
        roster_reviewer_appoint(course_id=world.course.pk, identifier="tess", actor=world.users["instructor"])
    with pytest.raises(RosterRefused, match="a student cannot review their classmates"):
        roster_reviewer_appoint(course_id=world.course.pk, identifier="student", actor=world.users["instructor"])
    roster_reviewer_remove(course_id=world.course.pk, user_id=membership.user_id, actor=world.users["instructor"])
    assert "tess" not in roles(world)
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="roster.")] == [
        "roster.reviewer_appoint",
        "roster.reviewer_remove",
    ]


# --- The page -------------------------------------------------------------------------------------


def test_the_course_page_offers_the_class_list_to_its_instructors_only(world: World) -> None:
    url = reverse("course_detail", args=[world.course.pk])
    assert "Manage the class list" in client_as(world, "instructor").get(url).content.decode()
    assert "Manage the class list" not in client_as(world, "reviewer").get(url).content.decode()


def test_the_page_imports_a_clean_file_after_listing_a_bad_ones_lines(world: World) -> None:
    UserFactory(username="ada")
    client = client_as(world, "instructor")
    url = reverse("course_roster_import", args=[world.course.pk])
    bad = client.post(url, {"file": SimpleUploadedFile("list.csv", b"username\nada\nnobody\n")})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "1 line(s) of the file need correcting; no student was added." in page
    assert '<th scope="row">3</th><td>nobody</td>' in page
    assert "ada" not in roles(world)
    good = client.post(url, {"file": SimpleUploadedFile("list.csv", b"username\nada\n")}, follow=True)
    assert "1 student(s) added to the class list." in good.content.decode()
    assert roles(world)["ada"] == Role.STUDENT


def test_the_page_says_what_is_wrong_and_keeps_what_was_typed(world: World) -> None:
    client = client_as(world, "instructor")
    response = client.post(reverse("course_roster_add", args=[world.course.pk]), {"identifier": "nobody@x.org"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "No account has the username or email" in page
    assert 'value="nobody@x.org"' in page
    assert 'aria-invalid="true"' in page
    missing = client.post(reverse("course_roster_import", args=[world.course.pk]), {})
    assert missing.status_code == 400
    assert "Choose a CSV file" in missing.content.decode()


def test_the_class_list_costs_the_same_queries_for_2_or_30_students(
    world: World, django_assert_max_num_queries: Any
) -> None:
    from tests.factories import enrol

    client = client_as(world, "instructor")
    url = reverse("course_roster", args=[world.course.pk])
    client.get(url)
    with django_assert_max_num_queries(12) as few:
        client.get(url)
    for n in range(28):
        enrol(UserFactory(username=f"s{n}"), world.course, Role.STUDENT)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert "Students (30)" in response.content.decode()
