"""Scheduled jobs of the core."""

from __future__ import annotations

import logging

from celery import shared_task

from proctor.audit import audit_verify

logger = logging.getLogger(__name__)


@shared_task(name="proctor.audit_chain_verify", acks_late=True, time_limit=3600)
def audit_chain_verify() -> dict[str, object]:
    """Daily: walk the audit chain and log loudly if anything was tampered with.

    The head hash goes to the log, kept outside the database, so a later rewrite of the tail and the
    head together still disagrees with an earlier day's record.
    """
    result = audit_verify()
    if result.ok:
        logger.info("Audit log intact: %d entries verified, head %s.", result.checked, result.head_hash)
    else:
        logger.error("AUDIT LOG TAMPERED: %s", result.first_break)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head": result.head_hash if result.ok else "",
        "break": str(result.first_break or ""),
    }
