from __future__ import annotations

from django.urls import path

from lti import proctoring_views, views

urlpatterns = [
    path("lti/login/", views.login, name="lti_login"),
    path("lti/launch/", views.launch, name="lti_launch"),
    path("lti/jwks/", views.jwks, name="lti_jwks"),
    path("lti/deep-link/", views.deep_link, name="lti_deep_link"),
    path("lti/continue/", views.continue_in_window, name="lti_continue"),
    path(
        "lti/sessions/<uuid:session_id>/assessment/",
        proctoring_views.start_assessment_view,
        name="lti_start_assessment",
    ),
    path(
        "lti/sessions/<uuid:session_id>/assessment/status/",
        proctoring_views.assessment_status_view,
        name="lti_assessment_status",
    ),
    path("lti/sessions/<uuid:session_id>/control/", proctoring_views.control_view, name="lti_control"),
]
