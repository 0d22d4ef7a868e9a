from __future__ import annotations

from django.apps import AppConfig


class ProctorConfig(AppConfig):
    name = "proctor"
    verbose_name = "Core"
