from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from exams.models import (
    MAX_RETENTION_DAYS,
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
    Question,
    SessionTransition,
)
from exams.selectors import exams_with_consent_counts
from exams.services import PublishRefused, alternative_answer, alternative_answer_refusal, exam_publish, exam_unpublish
from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin


@admin.register(Institution)
class InstitutionAdmin(AuditedModelAdmin):
    list_display = ["name", "recording_retention_days", "profile_retention_days"]
    audit_values = ("recording_retention_days", "profile_retention_days")

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


class ChoiceInline(admin.TabularInline):
    model = Choice
    extra = 0


@admin.register(Question)
class QuestionAdmin(AuditedModelAdmin):
    list_display = ["__str__", "exam", "kind", "points"]
    list_filter = ["exam", "kind"]
    inlines = [ChoiceInline]


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0
    show_change_link = True


class AccommodationInline(admin.StackedInline):
    model = Accommodation
    extra = 0
    autocomplete_fields = ["student"]


@admin.register(Exam)
class ExamAdmin(AuditedModelAdmin):
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
    list_display = ["session", "policy", "policy_version", "decision", "at"]
    list_filter = ["decision", "policy"]
    list_select_related = ["session__student", "session__exam__course", "policy"]


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
