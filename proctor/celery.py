"""The Celery application; tasks live in each app's ``tasks.py``."""

from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor.settings")

app = Celery("invigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_ready() -> None:
    """Import the broker's transport and set up the producer pool (no connection yet). A server calls this
    as it starts: made on first use, the pool held the process's GIL for 0.7 s (imports, py-spy) while
    1,000 students signed in at an exam's start, holding up every chunk and sign-in of that process."""
    try:
        app.producer_pool  # noqa: B018 (made on first use)
    except Exception:
        logging.getLogger(__name__).warning("Could not prepare the broker's producer pool.", exc_info=True)
