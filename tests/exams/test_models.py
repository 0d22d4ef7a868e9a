"""Model rules that the admin and every service rely on: bad input gets a clear error, saves nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exams.models import Accommodation, Exam
from tests.conftest import World
from tests.factories import AccommodationFactory


def test_extra_time_as_minutes(world: World) -> None:
    accommodation = AccommodationFactory(exam=world.exam, student=world.users["student"], extra_minutes=15)
    assert accommodation.allowed_minutes(60) == 75


def test_extra_time_as_a_multiplier_rounds_up_in_the_students_favour(world: World) -> None:
    accommodation = AccommodationFactory(
        exam=world.exam, student=world.users["student"], time_multiplier=Decimal("1.33")
    )
    assert accommodation.allowed_minutes(50) == 67  # 66.5 rounded up


def test_extra_time_cannot_be_given_both_ways(world: World) -> None:
    accommodation = Accommodation(
        exam=world.exam, student=world.users["student"], extra_minutes=10, time_multiplier=Decimal("1.5")
    )
    with pytest.raises(ValidationError, match="not both"):
        accommodation.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        accommodation.save()


def test_a_multiplier_outside_one_to_four_is_refused(world: World) -> None:
    accommodation = Accommodation(exam=world.exam, student=world.users["student"], time_multiplier=Decimal("0.5"))
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        accommodation.full_clean()


def test_an_exam_must_close_after_it_opens(world: World) -> None:
    now = timezone.now()
    exam = Exam(
        course=world.course,
        title="Backwards",
        opens_at=now,
        closes_at=now - timedelta(hours=1),
        duration_minutes=30,
    )
    with pytest.raises(ValidationError, match="close after it opens"):
        exam.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        exam.save()


def test_the_admin_refuses_a_backwards_exam_window_and_saves_nothing(world: World, client: Client) -> None:
    client.force_login(world.users["admin"])
    count = Exam.objects.count()
    now = timezone.now()
    response = client.post(
        reverse("admin:exams_exam_add"),
        {
            "course": world.course.pk,
            "title": "Backwards",
            "instructions": "",
            "opens_at_0": now.strftime("%Y-%m-%d"),
            "opens_at_1": "12:00:00",
            "closes_at_0": now.strftime("%Y-%m-%d"),
            "closes_at_1": "11:00:00",
            "duration_minutes": 30,
            "record_webcam": "on",
            "sensitivity": "standard",
            "questions-TOTAL_FORMS": 0,
            "questions-INITIAL_FORMS": 0,
            "accommodations-TOTAL_FORMS": 0,
            "accommodations-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "The exam must close after it opens." in response.content.decode()
    assert Exam.objects.count() == count


def test_one_session_per_student_and_exam(world: World) -> None:
    from tests.factories import ExamSessionFactory

    with pytest.raises(IntegrityError), transaction.atomic():
        ExamSessionFactory(exam=world.exam, student=world.users["student"])
