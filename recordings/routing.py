from __future__ import annotations

from django.urls import path

from recordings.consumers import SessionStreamConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views only; Channels routes ASGI apps through it by design.
    path("ws/sessions/<uuid:session_id>/stream/", SessionStreamConsumer.as_asgi()),  # type: ignore[arg-type]
]
