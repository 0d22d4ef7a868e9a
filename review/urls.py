from __future__ import annotations

from django.urls import path

from review import views

urlpatterns = [
    path("review/courses/<int:course_id>/", views.course_dashboard, name="review_dashboard"),
    path("review/sessions/<uuid:session_id>/", views.session_review_page, name="review_session"),
    path("review/sessions/<uuid:session_id>/access/", views.session_access, name="review_session_access"),
    path("review/sessions/<uuid:session_id>/decision/", views.session_decision, name="review_session_decision"),
    path("review/sessions/<uuid:session_id>/reanalyse/", views.session_reanalyse, name="review_reanalyse"),
    path("review/sessions/<uuid:session_id>/appeal/", views.session_appeal_page, name="review_appeal"),
    path("review/courses/<int:course_id>/export.csv", views.review_export_csv, name="review_export"),
    path("review/flags/<int:flag_id>/decision/", views.flag_decision, name="flag_decision"),
    path("review/flags/<int:flag_id>/thumbnail/", views.flag_thumbnail, name="flag_thumbnail"),
    path("review/identity-checks/", views.identity_checks, name="review_identity_checks"),
    path(
        "review/identity-checks/<int:check_id>/photo/", views.identity_check_photo, name="review_identity_check_photo"
    ),
    path(
        "review/identity-checks/<int:check_id>/decision/",
        views.identity_check_decide,
        name="review_identity_check_decide",
    ),
    path("review/recordings/<uuid:recording_id>/playback/", views.recording_playback, name="recording_playback"),
]
