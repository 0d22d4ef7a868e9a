"""The audit log is append-only and hash-chained; verification names the first broken link."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from proctor.audit import audit_record, audit_verify
from proctor.audit_actions import AuditAction
from proctor.models import AuditEvent, AuditHead
from tests.factories import UserFactory
from tests.proctor.tamper import triggers_bypassed


@pytest.fixture
def ten_events(db: None) -> list[AuditEvent]:
    user = UserFactory(username="alice")
    return [
        audit_record(actor=user if i % 2 else None, action=AuditAction.KEYS_ROTATE, detail={"n": i, "note": "ünïcode"})
        for i in range(10)
    ]


def test_events_chain_each_to_the_one_before(ten_events: list[AuditEvent]) -> None:
    assert [e.seq for e in ten_events] == list(range(1, 11))
    for before, after in zip(ten_events, ten_events[1:], strict=False):
        assert after.prev_hash == before.hash
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (10, ten_events[-1].hash)


def test_an_intact_log_verifies(ten_events: list[AuditEvent]) -> None:
    result = audit_verify()
    assert result.ok
    assert result.checked == 10


def test_it_records_the_actor_target_and_address(db: None, rf: object) -> None:
    user = UserFactory(username="bob")
    request = rf.get("/", REMOTE_ADDR="203.0.113.7")  # type: ignore[attr-defined]
    event = audit_record(
        actor=user, action=AuditAction.RECORDING_PLAY, target=user, request=request, detail={"t": 12.5}
    )
    event.refresh_from_db()
    assert (event.actor_id, event.actor_label, event.ip) == (user.pk, "bob", "203.0.113.7")
    assert (event.target_type, event.target_id) == ("identity.user", str(user.pk))
    assert audit_verify().ok


@pytest.mark.parametrize("forged", ["not-an-address", "1.2.3.4, 5.6.7.8", ""])
def test_an_address_that_is_not_an_ip_is_recorded_as_unknown(db: None, rf: object, forged: str) -> None:
    request = rf.get("/", REMOTE_ADDR=forged)  # type: ignore[attr-defined]
    event = audit_record(actor=None, action=AuditAction.KEYS_ROTATE, request=request)
    event.refresh_from_db()
    assert event.ip is None
    assert audit_verify().ok


def test_an_event_in_a_rolled_back_transaction_leaves_no_trace(db: None) -> None:
    audit_record(actor=None, action=AuditAction.HOLD_SET)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action=AuditAction.HOLD_LIFT)
        raise RuntimeError
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["hold.set"]
    assert audit_verify().ok


def test_an_entry_is_written_in_its_callers_transaction_without_a_savepoint_of_its_own(db: None) -> None:
    # Two round trips fewer for every audited action; an entry that fails still fails its caller's transaction.
    user = UserFactory()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        audit_record(actor=user, action=AuditAction.HOLD_SET)
    assert [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"]] == []
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["hold.set"]
    assert audit_verify().ok


def test_the_database_refuses_to_update_an_audit_row(ten_events: list[AuditEvent]) -> None:
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditEvent.objects.filter(seq=3).update(action="test.nothing")
    assert AuditEvent.objects.get(seq=3).action == "keys.rotate"


def test_the_database_refuses_to_delete_an_audit_row(ten_events: list[AuditEvent]) -> None:
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditEvent.objects.filter(seq=3).delete()
    assert AuditEvent.objects.count() == 10


def test_editing_a_row_breaks_verification_at_that_row(ten_events: list[AuditEvent]) -> None:
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=4).update(actor_label="mallory")
    result = audit_verify()
    assert not result.ok
    assert result.first_break is not None
    assert result.first_break.seq == 4
    assert "row edited" in result.first_break.problem
    assert result.checked == 3


def test_editing_a_row_and_its_hash_breaks_the_link_to_the_next_row(ten_events: list[AuditEvent]) -> None:
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=4).update(hash="f" * 64)
    result = audit_verify()
    assert result.first_break is not None
    assert result.first_break.seq == 4


def test_deleting_a_row_in_the_middle_names_the_missing_entry(ten_events: list[AuditEvent]) -> None:
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=6).delete()
    result = audit_verify()
    assert result.first_break is not None
    assert result.first_break.seq == 6
    assert "missing" in result.first_break.problem


def test_deleting_rows_from_the_end_is_caught_by_the_head(ten_events: list[AuditEvent]) -> None:
    with triggers_bypassed():
        AuditEvent.objects.filter(seq__gte=9).delete()
    result = audit_verify()
    assert result.first_break is not None
    assert "deleted from the end" in result.first_break.problem


def test_verify_audit_command_reports_success(ten_events: list[AuditEvent], capsys: pytest.CaptureFixture[str]) -> None:
    call_command("verify_audit")
    assert "Audit log intact: 10 entries verified." in capsys.readouterr().out


def test_verify_audit_command_fails_naming_the_first_broken_link(ten_events: list[AuditEvent]) -> None:
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=2).update(detail={"n": 999})
    with pytest.raises(CommandError, match="#2"):
        call_command("verify_audit")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    import threading

    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                audit_record(actor=None, action=AuditAction.KEYS_ROTATE, detail={"writer": n, "i": i})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.count() == 40
    assert audit_verify().ok


def test_the_migrations_leave_every_append_only_trigger_in_place(db: None) -> None:
    # Recorded before any test could put triggers back: a migration that rebuilds the table on
    # SQLite (adding a column does) would otherwise drop them unnoticed.
    from tests import conftest

    assert conftest.MIGRATED_TRIGGERS is True
