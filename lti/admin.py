"""The admin's registration of LMSs: platforms and their deployments, for admins (privacy officers) only,
every view and change audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from lti.models import Deployment, Platform
from proctor.audited_admin import AuditedModelAdmin


class AdminsOnly:
    """Trusting an LMS lets it create accounts and courses: only a superuser registers one, whatever model
    permissions a staff account was given."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class DeploymentInline(AdminsOnly, admin.TabularInline):
    model = Deployment
    extra = 1


@admin.register(Platform)
class PlatformAdmin(AdminsOnly, AuditedModelAdmin):
    list_display = ["name", "institution", "issuer", "client_id", "active"]
    list_filter = ["active", "institution"]
    search_fields = ["name", "issuer", "client_id"]
    inlines = [DeploymentInline]
    # An LMS's endpoints are HTTPS; a URL typed without a scheme is taken as such.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    audit_values = (
        "issuer",
        "client_id",
        "auth_login_url",
        "auth_token_url",
        "keyset_url",
        "token_audience",
        "active",
        "assessment_display",
    )


@admin.register(Deployment)
class DeploymentAdmin(AdminsOnly, AuditedModelAdmin):
    list_display = ["deployment_id", "platform"]
    list_filter = ["platform"]
    search_fields = ["deployment_id"]
