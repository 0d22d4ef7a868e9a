"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by Daphne)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from proctor.bodylimit import (  # noqa: E402
    BodyLimitMiddleware,
    install_in_daphne,
    install_websocket_limit_in_daphne,
)
from proctor.celery import broker_ready  # noqa: E402
from proctor.routing import websocket_application  # noqa: E402
from proctor.wsauth import PooledAuthMiddlewareStack  # noqa: E402  (needs Django set up first)

# Oversized request bodies are refused (413) before Daphne or Django buffers them.
install_in_daphne()
# A recording chunk (4 MiB at most) reaches the socket's consumer, which refuses a larger one with 4413.
install_websocket_limit_in_daphne()
# The broker's client is set up now, not when the first chunk asks for analysis at an exam's start.
broker_ready()

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(PooledAuthMiddlewareStack(websocket_application())),
    }
)
