"""Exams are drafts until published, and a proctored exam is published only with an alternative
arrangement (what it is and whom to contact), refused by the service and by every form. A student
who declines recording is offered it at once, and nothing is recorded, analysed or scored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse

from analysis.models import AnalysisRun, Flag
from exams.models import Exam, ExamSession
from exams.notice import notice_for_exam
from exams.permissions import Action, can
from exams.services import ExamUnavailable, PublishRefused, exam_publish, exam_unpublish, session_open
from proctor.models import AuditEvent
from recordings.models import Recording
from tests.conftest import World, client_as
from tests.factories import ExamFactory, QuestionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(world: World) -> Exam:
    exam = ExamFactory(
        course=world.course, title="Final draft", published_at=None, alternative_arrangement="", alternative_contact=""
    )
    QuestionFactory(exam=exam)
    return exam


def test_a_proctored_exam_is_not_published_without_an_alternative(world: World, draft: Exam) -> None:
    with pytest.raises(PublishRefused, match="say what it is and whom to contact"):
        exam_publish(exam_id=draft.pk, actor=world.users["instructor"])
    draft.refresh_from_db()
    assert draft.published_at is None
    assert not AuditEvent.objects.filter(action="exam.publish").exists()


def test_with_an_alternative_it_is_published_and_audited(world: World, draft: Exam) -> None:
    Exam.objects.filter(pk=draft.pk).update(alternative_arrangement="An oral exam.", alternative_contact="Dr Who, 555")
    exam_publish(exam_id=draft.pk, actor=world.users["instructor"])
    assert Exam.objects.get(pk=draft.pk).published
    assert AuditEvent.objects.get(action="exam.publish").actor_id == world.users["instructor"].pk


def test_an_exam_that_records_nothing_needs_no_alternative(world: World, draft: Exam) -> None:
    Exam.objects.filter(pk=draft.pk).update(record_webcam=False, record_audio=False, record_screen=False)
    exam_publish(exam_id=draft.pk, actor=world.users["instructor"])
    assert Exam.objects.get(pk=draft.pk).published


def test_the_instructors_form_refuses_to_publish_without_an_alternative_and_changes_nothing(
    world: World, draft: Exam
) -> None:
    client = client_as(world, "instructor")
    url = reverse("exam_publishing", args=[draft.pk])
    response = client.post(
        url, {"action": "publish", "alternative_arrangement": "In person.", "alternative_contact": " "}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was changed" in page
    assert "say whom to contact" in page
    assert 'value="' in page
    assert "In person." in page
    draft.refresh_from_db()
    assert (draft.published_at, draft.alternative_arrangement) == (None, "")

    response = client.post(
        url, {"action": "publish", "alternative_arrangement": "In person.", "alternative_contact": "Exams office"}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.published
    assert (draft.alternative_arrangement, draft.alternative_contact) == ("In person.", "Exams office")


def test_a_published_exam_cannot_lose_its_alternative_by_any_form(world: World) -> None:
    exam = world.exam
    before = exam.alternative_arrangement
    client = client_as(world, "instructor")
    response = client.post(
        reverse("exam_publishing", args=[exam.pk]),
        {"action": "save", "alternative_arrangement": "", "alternative_contact": "Exams office"},
    )
    assert response.status_code == 400
    assert Exam.objects.get(pk=exam.pk).alternative_arrangement == before

    # The admin's form checks the same rule (Exam.clean).
    request = RequestFactory().get("/")
    request.user = world.users["admin"]
    form_class = site._registry[Exam].get_form(request, exam)
    data = {
        field: getattr(exam, field)
        for field in ("title", "instructions", "opens_at", "closes_at", "duration_minutes", "sensitivity")
    }
    data.update(
        course=exam.course_id,
        record_webcam="on",
        record_audio="on",
        record_screen="on",
        alternative_arrangement="",
        alternative_contact="",
    )
    form = form_class(data=data, instance=exam)
    assert not form.is_valid()
    assert "say what it is" in str(form.errors)
    assert Exam.objects.get(pk=exam.pk).alternative_arrangement == before


def test_the_admins_publish_action_refuses_without_an_alternative(world: World, draft: Exam) -> None:
    client = client_as(world, "admin")
    response = client.post(
        reverse("admin:exams_exam_changelist"),
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert "A proctored exam needs an alternative arrangement" in response.content.decode()
    assert not Exam.objects.get(pk=draft.pk).published


@pytest.mark.parametrize("role", ["student", "other_student"])
def test_students_do_not_see_or_open_a_draft(world: World, draft: Exam, role: str) -> None:
    user = world.users[role]
    assert not can(user, Action.VIEW_EXAM, draft)
    assert not can(user, Action.TAKE_EXAM, draft)
    client = client_as(world, role)
    assert "Final draft" not in client.get(reverse("home")).content.decode()
    assert "Final draft" not in client.get(reverse("course_detail", args=[world.course.pk])).content.decode()
    assert client.get(reverse("exam_lobby", args=[draft.pk])).status_code == 403
    with pytest.raises(ExamUnavailable, match="not published"):
        session_open(exam=draft, student=user)
    assert not ExamSession.objects.filter(exam=draft).exists()


def test_staff_see_a_draft_marked_as_such(world: World, draft: Exam) -> None:
    assert can(world.users["reviewer"], Action.VIEW_EXAM, draft)
    page = client_as(world, "instructor").get(reverse("exam_detail", args=[draft.pk])).content.decode()
    assert "Students do not see it yet" in page


def test_an_exam_students_opened_stays_published(world: World) -> None:
    session_open(exam=world.exam, student=world.users["student"])
    with pytest.raises(PublishRefused, match="stays published"):
        exam_unpublish(exam_id=world.exam.pk, actor=world.users["instructor"])
    assert Exam.objects.get(pk=world.exam.pk).published


def test_a_student_who_declines_is_offered_the_alternative_at_once_and_nothing_is_recorded(world: World) -> None:
    student = client_as(world, "student")
    lobby = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert world.exam.alternative_arrangement in lobby  # known before deciding
    page = student.post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": world.policy.pk, "reason": "", "notice": notice_for_exam(world.exam).sha256},
    ).content.decode()
    assert world.exam.alternative_arrangement in page
    assert world.exam.alternative_contact in page
    assert "nothing is analysed or scored" in page

    token = student.post(reverse("api_stream_token", args=[world.session.pk]), {"kind": "webcam"})
    assert token.status_code == 409
    session: Any = ExamSession.objects.get(pk=world.session.pk)
    assert session.status == "declined"
    assert not Recording.objects.filter(session=session).exists()
    assert not AnalysisRun.objects.filter(session=session).exists()
    assert not Flag.objects.filter(session=session).exists()


@pytest.mark.parametrize("role", ["student", "reviewer", "other_instructor", "outsider", "anonymous"])
def test_only_the_courses_instructors_and_admins_publish(world: World, draft: Exam, role: str) -> None:
    data = {"action": "publish", "alternative_arrangement": "In person.", "alternative_contact": "Exams office"}
    response = client_as(world, role).post(reverse("exam_publishing", args=[draft.pk]), data)
    assert response.status_code == (302 if role == "anonymous" else 403)
    if role == "anonymous":
        assert response["Location"].startswith(reverse("login"))
    draft.refresh_from_db()
    assert (draft.published_at, draft.alternative_arrangement) == (None, "")
