"""Invigil's core: settings, crypto, audit log, storage and realtime helpers. Imports no app."""

from __future__ import annotations

from proctor.celery import app as celery_app

__all__ = ["celery_app"]
