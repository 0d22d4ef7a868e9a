from __future__ import annotations

from django.urls import path

from review import views

urlpatterns = [
    path("review/courses/<int:course_id>/", views.course_dashboard, name="review_dashboard"),
    path("review/sessions/<uuid:session_id>/", views.session_review_page, name="review_session"),
    path("review/flags/<int:flag_id>/thumbnail/", views.flag_thumbnail, name="flag_thumbnail"),
    path("review/recordings/<uuid:recording_id>/playback/", views.recording_playback, name="recording_playback"),
]
