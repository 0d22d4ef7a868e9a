"""The Django admin keeps a started exam's questions and proctoring settings as they are, by the same
rule as the instructor's workspace (exams.authoring): answers were written to them and are marked by
them, and every student of an exam is proctored alike."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse

from exams.admin import ExamAdminForm
from exams.models import Exam, Question, SessionStatus
from tests.conftest import World, client_as
from tests.factories import QuestionFactory

FIELDS = [
    "course",
    "title",
    "instructions",
    "opens_at",
    "closes_at",
    "duration_minutes",
    "record_webcam",
    "sensitivity",
]


def begin(world: World) -> None:
    world.session.status = SessionStatus.STARTED
    world.session.save()


def admin_form(exam: Exam, **changes: Any) -> forms.ModelForm:
    form_class = forms.modelform_factory(Exam, form=ExamAdminForm, fields=FIELDS)
    data = {name: getattr(exam, name) for name in FIELDS} | {"course": exam.course_id} | changes
    data["opens_at"], data["closes_at"] = data["opens_at"].isoformat(), data["closes_at"].isoformat()
    return form_class(data=data, instance=exam)


def test_a_begun_exams_proctoring_settings_are_refused_in_the_admin_with_the_reason(world: World) -> None:
    begin(world)
    form = admin_form(world.exam, duration_minutes=world.exam.duration_minutes + 10, sensitivity="high")
    assert not form.is_valid()
    assert "Students have started this exam, so the duration can no longer change" in form.errors["duration_minutes"][0]
    assert "the sensitivity" in form.errors["sensitivity"][0]
    # A typo in the title is no change to how anyone is proctored.
    assert admin_form(world.exam, title="Midterm (corrected)").is_valid()


def test_before_anyone_starts_the_admin_changes_them_freely(world: World) -> None:
    assert admin_form(world.exam, duration_minutes=world.exam.duration_minutes + 10, sensitivity="high").is_valid()


def test_a_begun_exams_questions_are_read_only_in_the_admin(world: World) -> None:
    question = QuestionFactory(exam=world.exam, prompt="What is g?")
    client = client_as(world, "admin")
    url = reverse("admin:exams_question_change", args=[question.pk])
    assert 'name="_save"' in client.get(url).content.decode()

    begin(world)
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(url, {"exam": world.exam.pk, "kind": question.kind, "prompt": "Changed", "points": "9"})
    assert response.status_code == 403
    assert client.post(reverse("admin:exams_question_delete", args=[question.pk]), {"post": "yes"}).status_code == 403
    question.refresh_from_db()
    assert question.prompt == "What is g?"
    # Nor can a question be added to it.
    form_class = client.get(reverse("admin:exams_question_add")).context["adminform"].form.__class__
    form = form_class(
        data={"exam": world.exam.pk, "kind": "short_answer", "prompt": "New", "points": "1", "position": 9}
    )
    assert not form.is_valid()
    assert Question.objects.filter(exam=world.exam).count() == 1
