from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from identity.models import IdentityCheck, IdentityProfile, User
from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin


@admin.register(User)
class InvigilUserAdmin(AuditedModelAdmin, UserAdmin):
    """Django's user admin, with every change written to the audit log."""


@admin.register(IdentityCheck)
class IdentityCheckAdmin(ReadOnlyModelAdmin):
    list_display = ["user", "kind", "matched", "distance", "reference", "at"]
    list_filter = ["kind", "matched"]


@admin.register(IdentityProfile)
class IdentityProfileAdmin(ReadOnlyModelAdmin):
    """Metadata only: the template and the ID photo are never shown here."""

    list_display = ["user", "enrolled_at", "id_photo_at", "last_used_at"]
    exclude = ["template_sealed", "data_key", "id_photo_name"]
