"""factory_boy factories for the domain model."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from exams.models import (
    Accommodation,
    ConsentPolicy,
    Course,
    CourseMembership,
    Exam,
    ExamSession,
    Institution,
    Question,
    QuestionKind,
    Role,
)
from identity.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    password = factory.django.Password("correct-horse-battery")


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"University {n}")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    institution = factory.SubFactory(InstitutionFactory)
    code = factory.Sequence(lambda n: f"C{n:03d}")
    title = factory.Sequence(lambda n: f"Course {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseMembership

    course = factory.SubFactory(CourseFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.STUDENT


class ConsentPolicyFactory(factory.django.DjangoModelFactory):
    """An institution-wide policy unless given a course or an exam (set the institution to match)."""

    class Meta:
        model = ConsentPolicy

    institution = factory.SubFactory(InstitutionFactory)
    name = "Recording policy"
    version = factory.Sequence(lambda n: n + 1)
    text = "We record your webcam, microphone and screen during the exam."
    # In effect well before any test's exam, so that moving the clock about never leaves an exam without one.
    effective_from = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=365))


class ExamFactory(factory.django.DjangoModelFactory):
    """An exam open now and published, with an alternative arrangement. Its institution gets an
    institution-wide consent policy (version 1) unless it has one already; pass ``with_policy=False``
    for an exam that has none in effect."""

    class Meta:
        model = Exam
        skip_postgeneration_save = True

    course = factory.SubFactory(CourseFactory)
    title = factory.Sequence(lambda n: f"Exam {n}")
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    duration_minutes = 60
    alternative_arrangement = "Sit the exam in person at the exam centre, with nothing recorded."
    alternative_contact = "Exams office, exams@example.edu"
    published_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def with_policy(exam: Exam, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        if not create or extracted is False:
            return
        institution = exam.course.institution
        if not institution.consent_policies.filter(course__isnull=True, exam__isnull=True).exists():
            ConsentPolicyFactory(institution=institution, version=1)


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    exam = factory.SubFactory(ExamFactory)
    kind = QuestionKind.SHORT_ANSWER
    prompt = "Explain."


class ExamSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExamSession

    exam = factory.SubFactory(ExamFactory)
    student = factory.SubFactory(UserFactory)


class AccommodationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Accommodation

    exam = factory.SubFactory(ExamFactory)
    student = factory.SubFactory(UserFactory)


def enrol(user: Any, course: Course, role: str) -> CourseMembership:
    return CourseMembership.objects.create(user=user, course=course, role=role)
