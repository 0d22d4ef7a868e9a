from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from privacy.models import LegalHold
from privacy.services import hold_lift, hold_refusal, hold_set
from proctor.audited_admin import AuditedModelAdmin


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ["session", "reason", "lift_reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None:
            if data.get("session") is not None:
                refusal = hold_refusal(session=data["session"], reason=data.get("reason") or "")
                if refusal:
                    raise forms.ValidationError(refusal)
        elif self.instance.lifted_at is None and "lift_reason" in data and not data["lift_reason"].strip():
            self.add_error("lift_reason", "To lift the hold, give the reason; to keep it, leave the page.")
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
