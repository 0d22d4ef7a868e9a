from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from privacy.models import LegalHold
from privacy.services import hold_lift, hold_set
from proctor.audited_admin import AuditedModelAdmin


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ["session", "reason", "lift_reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None:
            session = data.get("session")
            if session is not None and LegalHold.objects.filter(session=session, lifted_at__isnull=True).exists():
                raise forms.ValidationError("This session is already on hold; lift that hold before setting another.")
            if not (data.get("reason") or "").strip():
                self.add_error("reason", "Give the reason for the hold: the case or request the data is kept for.")
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(AuditedModelAdmin):
    """Admins set a hold with its reason; to lift it, write why in "lift reason". Both are audited.
    A hold is never deleted: its record stays."""

    form = LegalHoldForm
    list_display = ["session", "reason", "set_by", "set_at", "lifted_at"]
    list_filter = ["lifted_at"]
    raw_id_fields = ["session"]
    readonly_fields = ["set_by", "set_at", "lifted_by", "lifted_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: LegalHold | None = None) -> Any:
        if obj is None:
            return [*self.readonly_fields, "lift_reason"]
        return [*self.readonly_fields, "session", "reason", *([] if obj.lifted_at is None else ["lift_reason"])]

    def has_delete_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.pk = hold_set(session_id=obj.session_id, reason=obj.reason, actor=request.user, request=request).pk
        elif obj.lift_reason.strip() and obj.lifted_at is None:
            hold_lift(hold_id=obj.pk, reason=obj.lift_reason, actor=request.user, request=request)
