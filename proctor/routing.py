"""WebSocket routes of every app, gathered for the ASGI router.

The project's root routing, like the root URLconf, is the one place allowed to name every app.
"""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.utils.module_loading import import_string

APP_ROUTES = ["recordings.routing.websocket_urlpatterns", "review.routing.websocket_urlpatterns"]

#: ASGI guards around every socket, outermost first: each takes the application it wraps.
WEBSOCKET_GUARDS = ["lockdown.websocket.SafeExamBrowserSocketGuard"]

websocket_urlpatterns: list[Any] = [route for dotted in APP_ROUTES for route in import_string(dotted)]


def websocket_application() -> Any:
    """The sockets' router inside the guards; it runs after authentication, so guards see the user."""
    application: Any = URLRouter(websocket_urlpatterns)
    for dotted in reversed(WEBSOCKET_GUARDS):
        application = import_string(dotted)(application)
    return application
