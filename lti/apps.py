from __future__ import annotations

from django.apps import AppConfig


class LtiConfig(AppConfig):
    """LTI 1.3 and IMS LTI Proctoring Services: Invigil as a tool that an LMS launches."""

    name = "lti"
    verbose_name = "LMS integration (LTI 1.3)"

    def ready(self) -> None:
        # The modules that register message-type handlers (lti.launch.message_handler).
        from exams import delivery
        from lti import handlers, proctoring  # noqa: F401

        # The exam page shows an attempt's assessment of the LMS; staff pages link to its control.
        delivery.register_assessment_provider(proctoring.assessment_for)
        delivery.register_session_links(proctoring.control_links)
