from __future__ import annotations

import dataclasses
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from exams.authoring import QUESTIONS_LOCKED, ExamSettings, exam_begun, locked_changes, settings_of
from exams.models import (
    MAX_RETENTION_DAYS,
    NOTICE_PARTS,
    Accommodation,
    AlternativeRequest,
    Choice,
    ConsentPolicy,
    ConsentRecord,
    Course,
    CourseMembership,
    Exam,
    ExamSession,
    Institution,
    NoticeText,
    PrivacyNotice,
    Question,
    Role,
    SessionTransition,
)
from exams.notice import default_notice_parts
from exams.selectors import exams_with_consent_counts
from exams.services import (
    PublishRefused,
    alternative_answer,
    alternative_answer_refusal,
    exam_publish,
    exam_unpublish,
    privacy_notice_add,
    privacy_notice_unchanged,
)
from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin


@admin.register(Institution)
class InstitutionAdmin(AuditedModelAdmin):
    list_display = ["name", "recording_retention_days", "profile_retention_days"]
    audit_values = ("recording_retention_days", "profile_retention_days")
    readonly_fields = ["privacy_notice"]

    @admin.display(description="Privacy notice")
    def privacy_notice(self, institution: Institution) -> str:
        if institution.pk is None:
            return "Save the institution first; its first notice is made from the defaults when students need it."
        latest = institution.privacy_notices.order_by("-version").first()
        add = reverse("admin:exams_privacynotice_add") + f"?institution={institution.pk}"
        if latest is None:
            return format_html('Not written yet (students see the defaults). <a href="{}">Write it</a>', add)
        return format_html('Version {} in force. <a href="{}">Change it (adds a new version)</a>', latest.version, add)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.audit_values:
            # The model's limits, in the form's own message ("at least 1", not "at least 0").
            kwargs.update(min_value=1, max_value=MAX_RETENTION_DAYS)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = CourseMembership
    fk_name = "course"
    extra = 0
    autocomplete_fields = ["user", "appointed_by"]


@admin.register(Course)
class CourseAdmin(AuditedModelAdmin):
    list_display = ["code", "title", "institution"]
    list_filter = ["institution"]
    search_fields = ["code", "title"]
    inlines = [MembershipInline]


@admin.register(CourseMembership)
class CourseMembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "course", "role"]
    list_filter = ["role", "course"]
    search_fields = ["user__username", "user__last_name", "course__code"]
    autocomplete_fields = ["user", "appointed_by"]


class ConsentScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("institution", "Institution"), ("course", "Course"), ("exam", "Exam")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "institution":
            return queryset.filter(course__isnull=True, exam__isnull=True)
        if self.value() == "course":
            return queryset.filter(course__isnull=False)
        if self.value() == "exam":
            return queryset.filter(exam__isnull=False)
        return queryset


@admin.register(ConsentPolicy)
class ConsentPolicyAdmin(AuditedModelAdmin):
    list_display = ["name", "version", "scope", "institution", "effective_from"]
    list_filter = [ConsentScopeFilter, "institution"]
    list_select_related = ["institution", "course", "exam__course"]
    search_fields = ["name", "text"]
    autocomplete_fields = ["course", "exam"]
    fieldsets = [
        (None, {"fields": ["institution", "name", "version", "effective_from"]}),
        (
            "Scope",
            {
                "fields": ["course", "exam"],
                "description": "Leave both empty for the whole institution. A course's policy applies to its exams; "
                "an exam's policy to that exam only. The most specific one in effect is the one students read.",
            },
        ),
        (None, {"fields": ["text"]}),
    ]

    @admin.display(description="Scope")
    def scope(self, policy: ConsentPolicy) -> str:
        return policy.scope_label

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Students' consent records point at this version: its words and scope stay as they read them.
        if obj is not None and obj.records.exists():
            return ["institution", "course", "exam", "name", "version", "effective_from", "text"]
        return []


class PrivacyNoticeForm(forms.ModelForm):
    class Meta:
        model = PrivacyNotice
        fields = ["institution", *NOTICE_PARTS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in NOTICE_PARTS:
            # One message per part, from the model's rule (exams.models.notice_part_errors), not two.
            self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        institution = cleaned.get("institution")
        if institution is not None and not self.errors:
            latest = institution.privacy_notices.order_by("-version").first()
            for error in privacy_notice_unchanged(latest, {n: cleaned.get(n) or "" for n in NOTICE_PARTS}).values():
                raise forms.ValidationError(error)
        return cleaned


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(AuditedModelAdmin):
    """Versions are added, never edited: students' consent records point at the version they were
    shown. "Change it" on the institution opens this form filled with the version in force."""

    form = PrivacyNoticeForm
    list_display = ["institution", "version", "created_at", "created_by"]
    list_filter = ["institution"]
    list_select_related = ["institution", "created_by"]
    fieldsets = [
        (None, {"fields": ["institution"]}),
        (
            "What every notice must say",
            {
                "fields": ["controller", "authority", "purposes", "recipients", "location", "contact"],
                "description": "Each part is shown under its own heading in the lobby of every exam of the "
                "institution. What each exam records, the course's staff, the retention periods and the appeal "
                "window are filled in from the exam and the institution's settings.",
            },
        ),
        ("Optional additions", {"fields": ["recorded", "analysis", "retention"]}),
    ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = dict(super().get_changeform_initial_data(request))
        wanted = str(request.GET.get("institution", ""))
        known = wanted.isdigit() and len(wanted) < 10
        institution = Institution.objects.filter(pk=int(wanted)).first() if known else None
        if institution is not None:
            latest = institution.privacy_notices.order_by("-version").first()
            initial.update(latest.parts() if latest is not None else default_notice_parts(institution))
        return initial

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The service numbers the version, and audits it.
        notice = privacy_notice_add(
            institution_id=form.cleaned_data["institution"].pk,
            parts={name: form.cleaned_data.get(name) or "" for name in NOTICE_PARTS},
            actor=request.user,
            request=request,
        )
        obj.pk, obj.version, obj.created_at = notice.pk, notice.version, notice.created_at


@admin.register(NoticeText)
class NoticeTextAdmin(ReadOnlyModelAdmin):
    list_display = ["notice", "sha256", "first_shown_at"]
    list_filter = ["notice__institution"]
    list_select_related = ["notice__institution"]


def _exam_of(obj: Exam | Question | None) -> Exam | None:
    return obj.exam if isinstance(obj, Question) else obj


class LockedOnceBegun:
    """Questions and their options, here as in the instructor's workspace, are read-only once a student
    has started the exam: answers were written to them and are marked by them."""

    @staticmethod
    def _begun(obj: Any) -> bool:
        exam = _exam_of(obj)
        return bool(exam and exam.pk and exam_begun(exam))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._begun(obj):
            return False
        if isinstance(self, admin.options.InlineModelAdmin):
            return bool(super().has_add_permission(request, obj))  # type: ignore[misc]
        return bool(super().has_add_permission(request))  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._begun(obj) and bool(super().has_change_permission(request, obj))  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._begun(obj) and bool(super().has_delete_permission(request, obj))  # type: ignore[misc]


class ChoiceInline(LockedOnceBegun, admin.TabularInline):
    model = Choice
    extra = 0


class QuestionAdminForm(forms.ModelForm):
    """The admin gives the model and the fields."""

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())
        exam = cleaned.get("exam")
        if exam is not None and exam_begun(exam):
            raise forms.ValidationError(QUESTIONS_LOCKED)
        return cleaned


@admin.register(Question)
class QuestionAdmin(LockedOnceBegun, AuditedModelAdmin):
    form = QuestionAdminForm
    list_display = ["__str__", "exam", "kind", "points"]
    list_filter = ["exam", "kind"]
    inlines = [ChoiceInline]


class QuestionInline(LockedOnceBegun, admin.StackedInline):
    model = Question
    extra = 0
    show_change_link = True


class ExamAdminForm(forms.ModelForm):
    """Once a student has started, the settings that decide how sessions are proctored stay as they
    are, by the same rule as the instructor's workspace (exams.authoring.locked_changes). The admin
    gives the model and the fields."""

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())
        exam = self.instance
        if exam.pk and exam_begun(exam):
            names = {f.name for f in dataclasses.fields(ExamSettings)} & set(cleaned)
            wanted = dataclasses.replace(settings_of(exam), **{name: cleaned[name] for name in names})
            for name, message in locked_changes(exam, wanted).items():
                self.add_error(name if name in self.fields else None, message)
        return cleaned


class AccommodationInline(admin.StackedInline):
    model = Accommodation
    extra = 0

    def get_formset(self, request: HttpRequest, obj: Exam | None = None, **kwargs: Any) -> Any:
        """The student picker lists the course's students (and whoever already has an accommodation
        here, though they left the course), not every account."""
        formset = super().get_formset(request, obj, **kwargs)
        students = get_user_model().objects.none()
        if obj is not None:
            students = (
                get_user_model()
                .objects.filter(
                    Q(memberships__course_id=obj.course_id, memberships__role=Role.STUDENT)
                    | Q(accommodations__exam=obj)
                )
                .distinct()
            )
        cast(forms.ModelChoiceField, formset.form.base_fields["student"]).queryset = students
        return formset


@admin.register(Exam)
class ExamAdmin(AuditedModelAdmin):
    form = ExamAdminForm
    # The consent answers come early: on a narrow admin page the last columns scroll out of sight.
    list_display = ["title", "course", "published", "consented", "declined", "opens_at", "closes_at"]
    list_select_related = ["course"]
    # Explicit: a counted (grouped) queryset does not follow the model's default ordering.
    ordering = ["opens_at", "title"]
    list_filter = ["course", "sensitivity"]
    search_fields = ["title", "course__code"]
    inlines = [QuestionInline, AccommodationInline]
    fieldsets = [
        (None, {"fields": ["course", "title", "instructions"]}),
        ("When", {"fields": ["opens_at", "closes_at", "duration_minutes"]}),
        ("Proctoring", {"fields": ["record_webcam", "record_audio", "record_screen", "sensitivity"]}),
        (
            "For students who decline recording (required before a proctored exam is published)",
            {"fields": ["alternative_arrangement", "alternative_contact"]},
        ),
    ]
    actions = ["publish", "unpublish"]

    @admin.display(description="Published", boolean=True, ordering="published_at")
    def published(self, exam: Exam) -> bool:
        return exam.published_at is not None

    @admin.action(description="Publish the selected exams to their students")
    def publish(self, request: HttpRequest, queryset: QuerySet[Exam]) -> None:
        self._each(request, queryset, exam_publish, "published")

    @admin.action(description="Take the selected exams back to draft (only before any student opened them)")
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Exam]) -> None:
        self._each(request, queryset, exam_unpublish, "back to draft")

    def _each(self, request: HttpRequest, queryset: QuerySet[Exam], service: Any, done: str) -> None:
        for exam in queryset:
            try:
                service(exam_id=exam.pk, actor=request.user, request=request)
            except PublishRefused as exc:
                self.message_user(request, f"{exam}: {exc}", level=messages.ERROR)
            else:
                self.message_user(request, f"{exam}: {done}.", level=messages.SUCCESS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Exam]:
        return exams_with_consent_counts(super().get_queryset(request))

    @admin.display(description="Consented", ordering="consented_count")
    def consented(self, exam: Exam) -> int:
        return int(getattr(exam, "consented_count", 0))

    @admin.display(description="Declined", ordering="declined_count")
    def declined(self, exam: Exam) -> int:
        return int(getattr(exam, "declined_count", 0))


@admin.register(Accommodation)
class AccommodationAdmin(AuditedModelAdmin):
    list_display = [
        "student",
        "exam",
        "extra_minutes",
        "time_multiplier",
        "no_camera",
        "speech_allowed",
        "face_covering",
    ]
    list_filter = ["exam"]
    autocomplete_fields = ["student"]


class TransitionInline(admin.TabularInline):
    model = SessionTransition
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "reason", "at"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ExamSession)
class ExamSessionAdmin(AuditedModelAdmin):
    """Sessions are shown, not edited: status moves only through the state machine's mutator."""

    list_display = ["student", "exam", "status", "status_changed_at"]
    list_filter = ["status", "exam"]
    search_fields = ["student__username", "student__last_name"]
    readonly_fields = ["id", "exam", "student", "status", "status_changed_at", "created_at", "started_at", "ended_at"]
    inlines = [TransitionInline]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyModelAdmin):
    list_display = ["session", "policy", "policy_version", "notice", "notice_sha256", "decision", "at"]
    list_filter = ["decision", "policy"]
    list_select_related = ["session__student", "session__exam__course", "policy", "notice__institution"]


class AlternativeAnswerForm(forms.ModelForm):
    class Meta:
        model = AlternativeRequest
        fields = ["response"]

    def clean_response(self) -> str:
        response = (self.cleaned_data.get("response") or "").strip()
        refusal = alternative_answer_refusal(response)
        if refusal:
            raise forms.ValidationError(refusal)
        return response


@admin.register(AlternativeRequest)
class AlternativeRequestAdmin(AuditedModelAdmin):
    """Admins answer here as instructors do on the exam page: through the same service and its audit."""

    form = AlternativeAnswerForm
    list_display = ["session", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    list_select_related = ["session__student", "session__exam__course"]
    readonly_fields = ["session", "reason", "created_at", "status", "answered_by", "answered_at"]
    fields = ["session", "reason", "created_at", "status", "response", "answered_by", "answered_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # students file requests by declining

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        alternative_answer(
            request_id=obj.pk, response=form.cleaned_data["response"], actor=request.user, request=request
        )
