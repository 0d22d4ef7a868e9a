"""The migration that gives consent policies a scope keeps every policy and every consent record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("exams", "0004_alter_accommodation_face_covering")]
AFTER = [("exams", "0005_consent_policy_scope")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)  # the graph's applied state changed
    executor.loader.build_graph()
    executor.migrate(leaves)


def old_world(apps: Any) -> dict[str, Any]:
    """Data as the previous release stored it: each exam named one policy version."""
    Institution = apps.get_model("exams", "Institution")
    Course = apps.get_model("exams", "Course")
    ConsentPolicy = apps.get_model("exams", "ConsentPolicy")
    Exam = apps.get_model("exams", "Exam")
    ExamSession = apps.get_model("exams", "ExamSession")
    ConsentRecord = apps.get_model("exams", "ConsentRecord")
    User = apps.get_model("identity", "User")
    institution = Institution.objects.create(name="Old University")
    course = Course.objects.create(institution=institution, code="PHYS101", title="Physics")
    day = timezone.localdate() - timedelta(days=30)
    v1 = ConsentPolicy.objects.create(
        institution=institution, name="Recording", version=1, text="v1", effective_from=day
    )
    v2 = ConsentPolicy.objects.create(
        institution=institution, name="Recording", version=2, text="v2", effective_from=day
    )
    now = timezone.now()
    exam = Exam.objects.create(
        course=course,
        title="Midterm",
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
        duration_minutes=60,
        consent_policy=v1,
    )
    student = User.objects.create(username="old-student")
    session = ExamSession.objects.create(exam=exam, student=student)
    ConsentRecord.objects.create(session=session, policy=v1, policy_version=1, decision="consented")
    return {"institution": institution, "v1": v1, "v2": v2, "exam": exam}


def test_existing_policies_become_institution_wide_versions_and_records_keep_their_version(
    migrator: MigrationExecutor,
) -> None:
    before = old_world(migrator.loader.project_state(BEFORE).apps)
    migrator.loader.build_graph()
    migrator.migrate(AFTER)
    apps = migrator.loader.project_state(AFTER).apps
    ConsentPolicy = apps.get_model("exams", "ConsentPolicy")
    ConsentRecord = apps.get_model("exams", "ConsentRecord")
    policies = ConsentPolicy.objects.filter(institution_id=before["institution"].pk).order_by("version")
    assert [(p.pk, p.version, p.text, p.course_id, p.exam_id) for p in policies] == [
        (before["v1"].pk, 1, "v1", None, None),
        (before["v2"].pk, 2, "v2", None, None),
    ]
    record = ConsentRecord.objects.get()
    assert (record.policy_id, record.policy_version) == (before["v1"].pk, 1)


def test_two_policies_of_one_institution_sharing_a_version_number_are_refused_with_instructions(
    migrator: MigrationExecutor,
) -> None:
    apps = migrator.loader.project_state(BEFORE).apps
    before = old_world(apps)
    lab = apps.get_model("exams", "ConsentPolicy").objects.create(
        institution_id=before["institution"].pk,
        name="Lab recording",
        version=1,
        text="Lab",
        effective_from=timezone.localdate(),
    )
    migrator.loader.build_graph()
    with pytest.raises(RuntimeError, match='"Recording" and "Lab recording" are both version 1'):
        migrator.migrate(AFTER)
    exam = apps.get_model("exams", "Exam").objects.get()  # still as the previous release left it
    assert exam.consent_policy_id == before["v1"].pk
    lab.delete()  # so that the migration can run again afterwards


def test_going_back_points_each_exam_at_the_most_specific_newest_version(migrator: MigrationExecutor) -> None:
    before = old_world(migrator.loader.project_state(BEFORE).apps)
    migrator.loader.build_graph()
    migrator.migrate(AFTER)
    after = migrator.loader.project_state(AFTER).apps
    course_policy = after.get_model("exams", "ConsentPolicy").objects.create(
        institution_id=before["institution"].pk,
        course_id=before["exam"].course_id,
        name="Physics recording",
        version=3,  # numbered apart from the institution's, as the previous release requires
        text="Course",
        effective_from=timezone.localdate(),
    )

    migrator.loader.build_graph()
    migrator.migrate(BEFORE)

    exam = migrator.loader.project_state(BEFORE).apps.get_model("exams", "Exam").objects.get()
    assert exam.consent_policy_id == course_policy.pk
