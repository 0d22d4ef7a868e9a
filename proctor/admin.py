from __future__ import annotations

from django.contrib import admin

from proctor.audited_admin import ReadOnlyModelAdmin
from proctor.models import AuditEvent, DataKey


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ["seq", "at", "actor_label", "action", "target_type", "target_id", "ip"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "action", "target_id"]
    date_hierarchy = "at"


@admin.register(DataKey)
class DataKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "purpose", "kek_id", "created_at", "destroyed_at"]
    list_filter = ["purpose", "kek_id"]
    exclude = ["wrapped"]
