from __future__ import annotations

from django.contrib import admin

from exams.models import (
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
from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin


@admin.register(Institution)
class InstitutionAdmin(AuditedModelAdmin):
    list_display = ["name", "recording_retention_days", "profile_retention_days"]


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


@admin.register(ConsentPolicy)
class ConsentPolicyAdmin(AuditedModelAdmin):
    list_display = ["name", "version", "institution", "effective_from"]
    list_filter = ["institution"]


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
    list_display = ["title", "course", "opens_at", "closes_at", "duration_minutes", "sensitivity"]
    list_filter = ["course", "sensitivity"]
    search_fields = ["title", "course__code"]
    inlines = [QuestionInline, AccommodationInline]
    fieldsets = [
        (None, {"fields": ["course", "title", "instructions"]}),
        ("When", {"fields": ["opens_at", "closes_at", "duration_minutes"]}),
        ("Proctoring", {"fields": ["record_webcam", "record_audio", "record_screen", "consent_policy", "sensitivity"]}),
    ]


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


@admin.register(AlternativeRequest)
class AlternativeRequestAdmin(AuditedModelAdmin):
    list_display = ["session", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    readonly_fields = ["session", "reason", "created_at"]
    fields = ["session", "reason", "created_at", "status", "response", "answered_by", "answered_at"]
