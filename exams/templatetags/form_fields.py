"""Form widgets rendered with what assistive technology needs: the help and the errors tied to the
input (aria-describedby) and an invalid input marked (aria-invalid)."""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def field_widget(field: BoundField) -> SafeString:
    described = []
    if field.errors:
        described.append(f"{field.auto_id}-error")
    if field.help_text:
        described.append(f"{field.auto_id}-help")
    attrs: dict[str, str | bool] = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)
