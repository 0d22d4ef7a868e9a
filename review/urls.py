from __future__ import annotations

from django.urls import path

from review import views

urlpatterns = [
    path("review/courses/<int:course_id>/", views.course_dashboard, name="review_dashboard"),
    path("review/recordings/<uuid:recording_id>/playback/", views.recording_playback, name="recording_playback"),
]
