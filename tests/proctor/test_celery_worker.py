"""A real Celery worker picks up the daily audit check from the real broker and reports the truth."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.models import AuditEvent
from proctor.tasks import audit_chain_verify
from tests.proctor.tamper import triggers_bypassed


@pytest.mark.django_db(transaction=True)
def test_a_worker_verifies_the_audit_chain_and_reports_tampering(celery_worker_process: Any) -> None:
    for n in range(5):
        audit_record(actor=None, action=AuditAction.KEYS_ROTATE, detail={"n": n})

    result = audit_chain_verify.delay().get(timeout=60)
    assert result == {"ok": True, "checked": 5, "head": AuditEvent.objects.get(seq=5).hash, "break": ""}

    with triggers_bypassed():
        AuditEvent.objects.filter(seq=3).update(action="test.forged")
    result = audit_chain_verify.delay().get(timeout=60)
    assert result["ok"] is False
    assert result["checked"] == 2
    assert "#3" in result["break"]


def test_the_daily_audit_check_is_on_the_beat_schedule() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["verify-audit-chain"]
    assert entry["task"] == audit_chain_verify.name
