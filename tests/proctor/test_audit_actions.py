"""Audit actions are one enumeration: the log refuses anything else, and what each entry means to the
student (their access log, their sign-ins) is read from it."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.audit import audit_record
from proctor.audit_actions import RECORDING_ACCESSES, AuditAction, action_label
from proctor.models import AuditEvent, AuditHead

#: What the log stored before the actions were an enumeration: each must keep its meaning.
STORED_BEFORE = {
    "access.purpose", "access.refused", "admin.add", "admin.change", "admin.delete", "admin.inline_delete",
    "admin.inline_save", "admin.list", "admin.view", "alternative.answer", "alternative.request",
    "analysis.complete", "analysis.fail", "analysis.start", "audit.access_report", "auth.login",
    "auth.login_failed", "auth.logout", "auth.reauthenticate", "demo.record_attempt", "demo.seed",
    "exam.alternative_set", "exam.publish", "exam.unpublish", "flag.decide", "flag.thumbnail_view",
    "hold.lift", "hold.set", "identity.biometric_consent", "identity.biometric_withdraw", "identity.enrol",
    "identity.id_photo", "identity.id_photo_view", "identity.manual_decide", "identity.manual_queue_view",
    "identity.manual_request", "identity.profile_delete", "identity.template_read", "identity.verify",
    "key_period.destroyed", "keys.rotate", "privacy.export", "privacy_notice.add", "recording.finalise",
    "recording.play", "recording.start", "retention.purge_profile", "retention.purge_recordings",
    "review.dashboard_view", "review.export", "review.session_view", "session.appeal",
    "session.consent_renewed", "session.decide", "session.open", "session.transition",
}  # fmt: skip


@pytest.mark.parametrize("action", ["made.up", "recording.play", 7])
def test_the_log_refuses_an_action_that_is_not_a_member_and_writes_nothing(db: None, action: Any) -> None:
    head = list(AuditHead.objects.values_list("seq", "hash"))
    with pytest.raises(TypeError, match="AuditAction"):
        audit_record(actor=None, action=action)
    assert not AuditEvent.objects.exists()
    assert list(AuditHead.objects.values_list("seq", "hash")) == head


def test_it_stores_the_value_the_log_has_always_stored(db: None) -> None:
    event = audit_record(actor=None, action=AuditAction.RECORDING_PLAY)
    event.refresh_from_db()
    assert event.action == "recording.play"
    assert type(event.action) is str


def test_every_value_stored_before_still_means_one_action() -> None:
    assert {action.value for action in AuditAction} >= STORED_BEFORE
    assert len(AuditAction.__members__) == len(AuditAction), "two names share a value: one would hide the other"


def test_every_action_says_in_plain_words_what_happened() -> None:
    assert [action for action in AuditAction if not action.label.strip()] == []


def test_the_students_access_log_lists_the_reads_of_their_recordings_in_their_words() -> None:
    assert RECORDING_ACCESSES == {
        AuditAction.REVIEW_SESSION_VIEW: "Opened the review page of your session",
        AuditAction.RECORDING_PLAY: "Played your recordings",
        AuditAction.FLAG_THUMBNAIL_VIEW: "Looked at an evidence picture from your recordings",
        AuditAction.ANALYSIS_START: "Automated analysis read your recordings",
    }
    assert all(action.to_student for action in AuditAction if action.reads_recordings)


def test_a_stored_value_leads_back_to_its_action() -> None:
    assert AuditAction("auth.login_failed") is AuditAction.LOGIN_FAILED
    assert AuditAction.LOGIN_FAILED.to_student.startswith("Someone tried to sign in")
    assert action_label("identity.enrol") == "Enrolled a face"
    assert action_label("retired.action") == "retired.action"
