"""Load demo data for a local trial: an institution, a course with staff and students, an exam."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from exams.models import (
    Accommodation,
    Choice,
    ConsentPolicy,
    Course,
    CourseMembership,
    Exam,
    Institution,
    Question,
    QuestionKind,
    Role,
)
from exams.notice import default_notice_parts
from exams.services import privacy_notice_add
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction

DEMO_PASSWORD = "invigil-demo"  # noqa: S105  (published on purpose; seed_demo refuses production)

PEOPLE = [
    # username, first, last, role in the course (None: admin)
    ("admin", "Ada", "Admin", None),
    ("instructor", "Iris", "Instructor", Role.INSTRUCTOR),
    ("reviewer", "Remi", "Reviewer", Role.REVIEWER),
    ("student1", "Sam", "Student", Role.STUDENT),
    ("student2", "Noor", "Student", Role.STUDENT),
    ("student3", "Kai", "Student", Role.STUDENT),
]

CONSENT_TEXT = """\
During this exam Invigil records your webcam, your microphone and your entire screen, and records \
browser events such as leaving the exam tab. Before the exam it checks that your face matches the \
face you enrolled, and it keeps an encrypted face template for that purpose.

Why: to let your instructor confirm that the exam was taken fairly, without an in-person sitting.

Who can see it: your course's instructors and the reviewers they appoint, and your institution's \
privacy officers. Every viewing is logged, and you can see who looked.

How long: recordings are deleted 180 days after the exam; your face template 365 days after its last \
use.

Automated checks only mark moments for a person to look at. No decision about you is ever made by a \
machine, and you can appeal any decision.

You may decline. If you do, you will be offered an alternative arrangement, such as an in-person \
sitting, with no penalty."""


class Command(BaseCommand):
    help = "Create demo data (idempotent). Refuses to run in production."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates accounts with a published password; it never runs in production.")
        with transaction.atomic():
            created = self._seed()
        self.stdout.write(self.style.SUCCESS("Demo data ready." if created else "Demo data already present."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, first, last, role in PEOPLE:
            self.stdout.write(
                f"  {username:<11} {first} {last}, {role.label.lower() if role else 'admin (privacy officer)'}"
            )

    def _seed(self) -> bool:
        User = get_user_model()
        institution, created = Institution.objects.get_or_create(name="Demo University")
        if not created:
            return False
        course = Course.objects.create(institution=institution, code="PHYS101", title="Introductory Physics")
        users = {}
        for username, first, last, role in PEOPLE:
            user = User.objects.create(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@demo.invalid",
                is_staff=role is None,
                is_superuser=role is None,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            users[username] = user
            if role is not None:
                CourseMembership.objects.create(
                    course=course,
                    user=user,
                    role=role,
                    appointed_by=users.get("instructor") if role == Role.REVIEWER else None,
                )
        # Institution-wide: every exam of Demo University asks for it, unless a course or exam has its own.
        ConsentPolicy.objects.create(
            institution=institution,
            name="Remote exam recording",
            version=1,
            text=CONSENT_TEXT,
            effective_from=timezone.localdate() - timedelta(days=30),
        )
        # The defaults, with the demo's privacy office to write to: a complete notice in the lobby.
        privacy_notice_add(
            institution_id=institution.pk,
            parts=default_notice_parts(institution)
            | {
                "contact": "Demo University's privacy office (its data protection officer), privacy@demo.invalid, "
                "1 University Road, Demo City: to ask about your data, have it corrected, or complain. You may "
                "also complain to your data protection authority."
            },
            actor=users["admin"],
        )
        now = timezone.now()
        exam = Exam.objects.create(
            course=course,
            title="Midterm: mechanics",
            instructions="Answer every question. You may use a calculator, but no notes.",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=14),
            duration_minutes=30,
            alternative_arrangement="Sit the exam in person in the physics building, room 2.14, with nothing recorded.",
            alternative_contact="Iris Instructor, instructor@demo.invalid",
            published_at=now,
        )
        questions = [
            (
                "A ball is dropped from rest. Ignoring air resistance, what is its speed after 2 s?",
                ["9.8 m/s", "19.6 m/s", "4.9 m/s", "39.2 m/s"],
                1,
            ),
            ("Which quantity is a vector?", ["Mass", "Temperature", "Velocity", "Energy"], 2),
            (
                "Newton's third law says that forces come in…",
                ["equal and opposite pairs", "pairs only in collisions", "threes", "none of these"],
                0,
            ),
        ]
        for position, (prompt, choices, correct) in enumerate(questions, start=1):
            question = Question.objects.create(
                exam=exam, position=position, prompt=prompt, kind=QuestionKind.SINGLE_CHOICE
            )
            for index, text in enumerate(choices):
                Choice.objects.create(question=question, position=index + 1, text=text, is_correct=index == correct)
        Question.objects.create(
            exam=exam,
            position=len(questions) + 1,
            kind=QuestionKind.SHORT_ANSWER,
            points=Decimal("3"),
            prompt="In two or three sentences, explain why astronauts in orbit feel weightless.",
        )
        Accommodation.objects.create(
            exam=exam,
            student=users["student3"],
            time_multiplier=Decimal("1.25"),
            breaks_allowed=1,
            break_minutes=10,
            speech_allowed=True,
            note="Uses a screen reader.",
        )
        audit_record(actor=None, action=AuditAction.DEMO_SEED, target=institution)
        return True
