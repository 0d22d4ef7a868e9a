from __future__ import annotations

from django.contrib import admin

from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin
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


# Third-party admin screens (the beat schedule, login lockouts, task results, groups) are audited
# like ours: each is re-registered with the audited base in front of its own admin class. Their admin
# modules load before this one because their apps come first in INSTALLED_APPS.
THIRD_PARTY_APPS = {"auth", "axes", "django_celery_beat", "django_celery_results"}

for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label in THIRD_PARTY_APPS and not isinstance(_model_admin, AuditedModelAdmin):
        _audited = type(
            f"Audited{type(_model_admin).__name__}", (AuditedModelAdmin, type(_model_admin)), {"__module__": __name__}
        )
        admin.site.unregister(_model)
        admin.site.register(_model, _audited)
