"""Consent policies gain a scope (institution, course or exam) and exams stop naming one version.

Existing policies keep their rows and become institution-wide versions: an exam now asks for the
highest version in effect of the most specific scope, so nothing is lost and consent records keep
pointing at the rows they pointed at. Versions are now numbered within a scope; an institution whose
policies of different names share a version number is refused with instructions, since which of the
two texts its exams should show is a person's decision.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

VERSION_TAKEN = (
    "This institution, course or exam already has a consent policy with this version number; give the new version "
    "the next number."
)


def refuse_shared_version_numbers(apps, schema_editor):
    ConsentPolicy = apps.get_model("exams", "ConsentPolicy")
    seen: dict[tuple[int, int], str] = {}
    clashes = []
    for policy in ConsentPolicy.objects.select_related("institution").order_by("institution_id", "version", "pk"):
        key = (policy.institution_id, policy.version)
        if key in seen:
            clashes.append(
                f'{policy.institution.name}: "{seen[key]}" and "{policy.name}" are both version {policy.version}'
            )
        else:
            seen[key] = policy.name
    if clashes:
        raise RuntimeError(
            "Consent policy versions are now numbered per institution (or per course or exam), and these share a "
            "number: " + "; ".join(clashes) + ". With the previous release, give one of each pair a version number "
            "of its own in the admin (the highest in effect is the one students will be asked about), then migrate "
            "again."
        )


def point_exams_at_a_policy(apps, schema_editor):
    """Going back: each exam names the newest version of the most specific scope that applies to it."""
    ConsentPolicy = apps.get_model("exams", "ConsentPolicy")
    Exam = apps.get_model("exams", "Exam")
    for exam in Exam.objects.select_related("course"):
        mine = ConsentPolicy.objects.filter(institution_id=exam.course.institution_id).order_by("-version")
        policy = (
            mine.filter(exam_id=exam.pk).first()
            or mine.filter(course_id=exam.course_id).first()
            or mine.filter(course__isnull=True, exam__isnull=True).first()
            or mine.first()
        )
        if policy is None:
            raise RuntimeError(
                f'Exam "{exam.title}" has no consent policy of its institution to go back to: add one in the admin, '
                "then migrate back again."
            )
        Exam.objects.filter(pk=exam.pk).update(consent_policy_id=policy.pk)
    # The previous release numbered versions per institution and name; scoped copies may share both.
    seen: set[tuple[int, str, int]] = set()
    for policy in ConsentPolicy.objects.order_by("institution_id", "name", "version", "pk"):
        key = (policy.institution_id, policy.name, policy.version)
        if key in seen:
            raise RuntimeError(
                f'Two consent policies are both "{policy.name}" version {policy.version} (in different scopes); '
                "rename or renumber one in the admin, then migrate back again."
            )
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("exams", "0004_alter_accommodation_face_covering"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="consentpolicy",
            options={
                "ordering": ["institution_id", "course_id", "exam_id", "-version"],
                "verbose_name_plural": "consent policies",
            },
        ),
        migrations.RemoveConstraint(
            model_name="consentpolicy",
            name="consent_policy_version_unique",
        ),
        migrations.AddField(
            model_name="consentpolicy",
            name="course",
            field=models.ForeignKey(
                blank=True,
                help_text="Only for this course's exams. Leave the course and exam empty for the whole institution.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="consent_policies",
                to="exams.course",
            ),
        ),
        migrations.AddField(
            model_name="consentpolicy",
            name="exam",
            field=models.ForeignKey(
                blank=True,
                help_text="Only for this exam. Leave the course and exam empty for the whole institution.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="consent_policies",
                to="exams.exam",
            ),
        ),
        migrations.AlterField(
            model_name="consentpolicy",
            name="effective_from",
            field=models.DateField(help_text="Students are asked to consent to this version from this day."),
        ),
        migrations.AlterField(
            model_name="consentpolicy",
            name="version",
            field=models.PositiveIntegerField(
                help_text="Numbered within the institution, course or exam it applies to.",
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="policy_version",
            field=models.PositiveIntegerField(help_text="The version number the student read, as shown to them."),
        ),
        migrations.RunPython(refuse_shared_version_numbers, migrations.RunPython.noop),
        # Nullable first, so that going back can add the column before filling it in.
        migrations.AlterField(
            model_name="exam",
            name="consent_policy",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="exams", to="exams.consentpolicy"
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, point_exams_at_a_policy),
        migrations.RemoveField(
            model_name="exam",
            name="consent_policy",
        ),
        migrations.AddConstraint(
            model_name="consentpolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(("course__isnull", True), ("exam__isnull", True), _connector="OR"),
                name="consent_policy_one_scope",
                violation_error_message=(
                    "A consent policy applies to the whole institution, to one course or to one exam: choose a "
                    "course or an exam, not both."
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="consentpolicy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("course__isnull", True), ("exam__isnull", True)),
                fields=("institution", "version"),
                name="consent_policy_institution_version_unique",
                violation_error_message=VERSION_TAKEN,
            ),
        ),
        migrations.AddConstraint(
            model_name="consentpolicy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("course__isnull", False)),
                fields=("course", "version"),
                name="consent_policy_course_version_unique",
                violation_error_message=VERSION_TAKEN,
            ),
        ),
        migrations.AddConstraint(
            model_name="consentpolicy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("exam__isnull", False)),
                fields=("exam", "version"),
                name="consent_policy_exam_version_unique",
                violation_error_message=VERSION_TAKEN,
            ),
        ),
    ]
