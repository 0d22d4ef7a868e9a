from __future__ import annotations

from django.urls import path

from exams import views

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/<int:course_id>/", views.course_detail, name="course_detail"),
    path("exams/<int:exam_id>/", views.exam_detail, name="exam_detail"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session_detail"),
]
