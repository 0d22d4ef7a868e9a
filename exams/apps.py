from __future__ import annotations

from django.apps import AppConfig


class ExamsConfig(AppConfig):
    name = "exams"
    verbose_name = "Exams"

    def ready(self) -> None:
        from exams.permissions import audit_role
        from proctor.audit import audit_role_resolver_install

        # Audit entries name the actor's role in the course of what they touched.
        audit_role_resolver_install(audit_role)
