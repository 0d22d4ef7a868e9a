from __future__ import annotations

from django.urls import path

from exams import attempt_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/<int:course_id>/", views.course_detail, name="course_detail"),
    path("exams/<int:exam_id>/", views.exam_detail, name="exam_detail"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session_detail"),
    path("exams/<int:exam_id>/lobby/", attempt_views.lobby, name="exam_lobby"),
    path("exams/<int:exam_id>/open/", attempt_views.open_attempt, name="exam_open"),
    path("sessions/<uuid:session_id>/consent/", attempt_views.consent, name="session_consent"),
    path("sessions/<uuid:session_id>/decline/", attempt_views.decline, name="session_decline"),
]
