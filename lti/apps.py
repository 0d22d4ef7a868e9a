from __future__ import annotations

from django.apps import AppConfig


class LtiConfig(AppConfig):
    """LTI 1.3 and IMS LTI Proctoring Services: Invigil as a tool that an LMS launches."""

    name = "lti"
    verbose_name = "LMS integration (LTI 1.3)"

    def ready(self) -> None:
        # The modules that register message-type handlers (lti.launch.message_handler).
        from lti import handlers  # noqa: F401
