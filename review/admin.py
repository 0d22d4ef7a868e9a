from __future__ import annotations

from django.contrib import admin

from proctor.audited_admin import ReadOnlyModelAdmin
from review.models import Appeal, FlagDecision, SessionDecision


@admin.register(SessionDecision)
class SessionDecisionAdmin(ReadOnlyModelAdmin):
    """Decisions are made on the review page, by the course's reviewers; here they are only listed."""

    list_display = ["session", "outcome", "reviewer_name", "from_status", "to_status", "decided_at"]
    list_filter = ["outcome"]


@admin.register(FlagDecision)
class FlagDecisionAdmin(ReadOnlyModelAdmin):
    list_display = ["flag", "verdict", "reviewer_name", "decided_at"]
    list_filter = ["verdict"]


@admin.register(Appeal)
class AppealAdmin(ReadOnlyModelAdmin):
    list_display = ["session", "lodged_at"]
