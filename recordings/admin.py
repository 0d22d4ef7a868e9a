from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from proctor.audited_admin import ReadOnlyModelAdmin
from recordings.models import Recording


@admin.register(Recording)
class RecordingAdmin(ReadOnlyModelAdmin):
    """Metadata only: media is never shown or downloaded here (review plays it, audited)."""

    list_display = ["session", "kind", "status", "chunk_count", "created_at", "finalised_at"]
    list_filter = ["kind", "status"]
    exclude = ["data_key"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recording]:
        queryset: QuerySet[Recording] = super().get_queryset(request)
        return queryset.annotate(chunk_total=Count("chunks"))

    @admin.display(description="chunks", ordering="chunk_total")
    def chunk_count(self, obj: Recording) -> int:
        return int(getattr(obj, "chunk_total", 0))
