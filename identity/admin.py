from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from identity.models import User
from proctor.audited_admin import AuditedModelAdmin


@admin.register(User)
class InvigilUserAdmin(AuditedModelAdmin, UserAdmin):
    """Django's user admin, with every change written to the audit log."""
