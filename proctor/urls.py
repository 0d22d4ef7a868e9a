"""Top-level URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from proctor.views import healthz

admin.site.site_header = "Invigil administration"
admin.site.site_title = "Invigil"
admin.site.index_title = "Policies, courses and exams"

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("lti.urls")),
    path("", include("privacy.urls")),
    path("", include("identity.urls")),
    path("", include("recordings.urls")),
    path("", include("review.urls")),
    path("", include("exams.urls")),
    path("", include("lockdown.urls")),
]
