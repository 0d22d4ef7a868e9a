from __future__ import annotations

from itertools import chain, islice
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from proctor.access_report import COLUMNS, Question, question_from, report_rows
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.audited_admin import AuditedModelAdmin, ReadOnlyModelAdmin
from proctor.models import AuditEvent, DataKey, Outcome
from proctor.streaming import csv_lines

#: Rows the access page shows; the CSV download and manage.py audit_access give every one.
ACCESS_PAGE_ROWS = 500


class TargetTypeFilter(admin.SimpleListFilter):
    """The target types in the log, with a name for the empty one (an event about no object, such as a
    sign-in): Django's own filter gives it a link with no text, which no screen reader can announce."""

    title = "target type"
    parameter_name = "target_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        found = AuditEvent.objects.order_by("target_type").values_list("target_type", flat=True).distinct()
        return [(value, value or "(no target)") for value in found]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset if value is None else queryset.filter(target_type=value)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = [
        "seq",
        "at",
        "actor_label",
        "role",
        "action",
        "target_type",
        "target_id",
        "purpose",
        "outcome",
        "ip",
    ]
    list_filter = ["action", "outcome", "role", TargetTypeFilter]
    search_fields = ["actor_label", "action", "target_id", "purpose"]
    date_hierarchy = "at"

    def get_urls(self) -> list[Any]:
        access = path("access/", self.admin_site.admin_view(self.access_view), name="proctor_auditevent_access")
        return [access, *super().get_urls()]

    def access_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        """Who read or changed whose personal data: one person's, or anyone's in a window; admins only."""
        if not (request.user.is_active and request.user.is_superuser):
            audit_record(
                actor=request.user,
                action=AuditAction.ACCESS_REFUSED,
                request=request,
                outcome=Outcome.REFUSED,
                detail={"wanted": "read the access report"},
            )
            raise PermissionDenied("Only administrators read the access report.")
        fields = {key: request.GET.get(key, "")[:200] for key in ("person", "since", "until")}
        asked = any(value.strip() for value in fields.values())
        error, found, shown, more = "", None, [], False
        if asked:
            try:
                found = question_from(**fields)
            except ValueError as exc:
                error = str(exc)
        if found is not None:
            audit_record(
                actor=request.user,
                action=AuditAction.AUDIT_ACCESS_REPORT,
                request=request,
                purpose="breach or access inquiry (admin access report)",
                subjects=[found.person.pk] if found.person else [],
                detail={"since": found.query.since, "until": found.query.until, "csv": "csv" in request.GET},
            )
            if "csv" in request.GET:
                return self._csv(request, found)
            shown = list(islice(report_rows(found), ACCESS_PAGE_ROWS + 1))
            more, shown = len(shown) > ACCESS_PAGE_ROWS, shown[:ACCESS_PAGE_ROWS]
        context = {
            **self.admin_site.each_context(request),
            "title": "Who accessed personal data",
            "opts": self.model._meta,
            "fields": fields,
            "error": error,
            "asked": asked and not error,
            "columns": COLUMNS,
            "rows": shown,
            "more": more,
            "limit": ACCESS_PAGE_ROWS,
            "query": urlencode(fields),
        }
        return TemplateResponse(request, "admin/proctor/access_report.html", context, status=400 if error else 200)

    def _csv(self, request: HttpRequest, found: Question) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            csv_lines(chain([COLUMNS], report_rows(found))), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="invigil-access-report.csv"'
        response["Cache-Control"] = "no-store"
        return response


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
