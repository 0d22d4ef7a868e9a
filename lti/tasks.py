"""Scheduled jobs of the LMS integration."""

from __future__ import annotations

from celery import shared_task

from lti.keys import tool_keys_rotate
from lti.launch import login_states_purge


@shared_task(name="lti.rotate_keys", acks_late=True, time_limit=300)
def rotate_keys() -> str:
    """Monthly: a new signing key, the old one retired and, after its grace period, deleted."""
    return tool_keys_rotate().kid


@shared_task(name="lti.purge_login_states", acks_late=True, time_limit=300)
def purge_login_states() -> dict[str, int]:
    """Hourly: forget expired login states and the nonces of tokens that have expired anyway."""
    states, nonces = login_states_purge()
    return {"states": states, "nonces": nonces}
