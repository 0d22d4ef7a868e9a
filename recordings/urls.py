from __future__ import annotations

from django.urls import path

from recordings.views import FinaliseView, StreamTokenView

urlpatterns = [
    path("api/sessions/<uuid:session_id>/stream-token/", StreamTokenView.as_view(), name="api_stream_token"),
    path("api/sessions/<uuid:session_id>/finalise/", FinaliseView.as_view(), name="api_recordings_finalise"),
]
