"""WebSocket routes of every app, gathered for the ASGI router.

The project's root routing, like the root URLconf, is the one place allowed to name every app.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

APP_ROUTES = ["recordings.routing.websocket_urlpatterns", "review.routing.websocket_urlpatterns"]

websocket_urlpatterns: list[Any] = [route for dotted in APP_ROUTES for route in import_string(dotted)]
