from __future__ import annotations

from django.urls import path

from lockdown import views

urlpatterns = [
    path("exams/<int:exam_id>/safe-exam-browser/", views.requirement_settings, name="lockdown_settings"),
    path("exams/<int:exam_id>/safe-exam-browser/config.seb", views.config_download, name="lockdown_config_download"),
    path(
        "api/sessions/<uuid:session_id>/safe-exam-browser/",
        views.javascript_verify,
        name="lockdown_javascript_verify",
    ),
]
