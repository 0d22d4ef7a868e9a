from __future__ import annotations

from django.contrib import admin

from analysis.models import AnalysisRun, Flag
from proctor.audited_admin import ReadOnlyModelAdmin


@admin.register(AnalysisRun)
class AnalysisRunAdmin(ReadOnlyModelAdmin):
    """Runs for operators: status, timings and failure reasons. Flags are reviewed in the dashboard."""

    list_display = ["session", "status", "stage", "progress", "score", "started_at", "finished_at", "cpu_seconds"]
    list_filter = ["status", "sensitivity"]


@admin.register(Flag)
class FlagAdmin(ReadOnlyModelAdmin):
    """Metadata only: the evidence thumbnail stays sealed here."""

    list_display = ["session", "kind", "category", "start_seconds", "end_seconds", "severity", "confidence"]
    list_filter = ["kind", "category", "severity"]
    exclude = ["evidence_thumbnail"]
