"""ModelAdmin bases that write every admin view and change to the audit log: an editable one and a
read-only one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from proctor.audit import audit_record, subjects_of
from proctor.audit_actions import AuditAction

#: The most people one list view's audit entry names (a page of the admin list is at most 100 rows).
MAX_LISTED_PEOPLE = 500


class AuditedReadsMixin:
    """Admin pages are a read path like any other: opening an object, or a list of them, leaves an
    audit entry naming the people whose data was on the screen."""

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        shown = getattr(response, "context_data", None) or {}
        if request.method == "GET" and response.status_code == 200 and shown.get("original") is not None:
            audit_record(actor=request.user, action=AuditAction.ADMIN_VIEW, target=shown["original"], request=request)
        return response

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        listing = (getattr(response, "context_data", None) or {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and listing is not None:
            people: set[int] = set()
            for obj in listing.result_list:
                people.update(subjects_of(obj))
            audit_record(
                actor=request.user,
                action=AuditAction.ADMIN_LIST,
                request=request,
                subjects=sorted(people)[:MAX_LISTED_PEOPLE],
                detail={
                    "model": listing.model._meta.label_lower,
                    "query": request.GET.urlencode()[:500],
                    "rows": len(listing.result_list),
                },
            )
        return response


def _changed(form: Any) -> list[str]:
    return sorted(form.changed_data) if form is not None else []


def _values(form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """Old and new value of each named field the form changed (policy settings, never personal data)."""
    if form is None:
        return {}
    return {
        name: {"from": form.initial.get(name), "to": form.cleaned_data.get(name)}
        for name in fields
        if name in form.changed_data
    }


class AuditedModelAdmin(AuditedReadsMixin, admin.ModelAdmin):
    """Admin edits are writes like any other: each add, change and delete leaves an audit entry.

    The entry names the fields changed; for the fields in ``audit_values`` (settings such as retention
    periods, never personal data) it keeps their old and new values too."""

    audit_values: tuple[str, ...] = ()

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        detail: dict[str, Any] = {"fields": _changed(form)}
        values = _values(form, self.audit_values)
        if values:
            detail["values"] = values
        audit_record(
            actor=request.user,
            action=AuditAction.ADMIN_CHANGE if change else AuditAction.ADMIN_ADD,
            target=obj,
            request=request,
            detail=detail,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects + [o for o, _ in formset.changed_objects]:
            audit_record(actor=request.user, action=AuditAction.ADMIN_INLINE_SAVE, target=obj, request=request)
        for obj in formset.deleted_objects:
            audit_record(
                actor=request.user,
                action=AuditAction.ADMIN_INLINE_DELETE,
                request=request,
                detail={"object": obj._meta.label_lower, "id": str(obj.pk)},
            )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        detail = {"object": obj._meta.label_lower, "id": str(obj.pk), "repr": str(obj)}
        super().delete_model(request, obj)
        audit_record(actor=request.user, action=AuditAction.ADMIN_DELETE, request=request, detail=detail)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        deleted = [{"object": o._meta.label_lower, "id": str(o.pk)} for o in queryset]
        super().delete_queryset(request, queryset)
        audit_record(actor=request.user, action=AuditAction.ADMIN_DELETE, request=request, detail={"objects": deleted})


class ReadOnlyModelAdmin(AuditedReadsMixin, admin.ModelAdmin):
    """For records nobody edits by hand: the audit log, data keys, state-machine history."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
