"""Operational endpoints of the core: the health check used by load balancers and Compose."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

#: Seconds a dependency has to answer before it counts as down; a load balancer's probe is short.
TIMEOUT = 2


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any driver error means "not healthy"; details go to the log, not the caller
        logger.warning("Health check: the database did not answer.", exc_info=True)
        return False
    return True


def _redis_ok() -> bool:
    if not settings.REDIS_URL:
        return True  # the embedded defaults use no Redis: the in-memory channel layer cannot be down
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        return bool(client.ping())
    except redis.RedisError:
        logger.warning("Health check: Redis did not answer.", exc_info=True)
        return False
    finally:
        client.close()


def _broker_ok() -> bool:
    """Whether Celery's broker would take a task now. The embedded file broker is up when its folders
    exist and can be written; a server broker when a connection to it opens."""
    url = settings.CELERY_BROKER_URL
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    if url.startswith("filesystem://"):
        names = ("data_folder_in", "data_folder_out", "control_folder")
        folders = {str(options[name]) for name in names if options.get(name)}
        usable = all(Path(folder).is_dir() and os.access(folder, os.W_OK | os.X_OK) for folder in folders)
        if not usable:
            logger.warning("Health check: the file broker's folders %s are missing or read-only.", sorted(folders))
        return usable
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=TIMEOUT, transport_options=options) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT)
    except Exception:  # kombu raises its transports' own errors; any of them means "down"
        logger.warning("Health check: the Celery broker did not answer.", exc_info=True)
        return False
    return True


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis (if configured) and the Celery broker answer; 503 otherwise.
    Reveals nothing else."""
    checks = {"database": _database_ok(), "redis": _redis_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
