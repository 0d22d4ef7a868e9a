"""WSGI entry point, for management tooling only: Invigil is served over ASGI by Daphne."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor.settings")
application = get_wsgi_application()
