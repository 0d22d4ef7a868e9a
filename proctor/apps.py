from __future__ import annotations

from django.apps import AppConfig


class ProctorConfig(AppConfig):
    name = "proctor"
    verbose_name = "Core"

    def ready(self) -> None:
        from proctor import checks  # noqa: F401  (registers the deploy checks)
