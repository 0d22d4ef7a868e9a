"""Data keys: stored wrapped only, destroyed for good, re-wrapped on rotation without touching media."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from proctor import crypto
from proctor.keys import (
    DataKeyDestroyed,
    data_key_create,
    data_key_destroy,
    data_key_material,
    data_key_move,
    data_keys_create,
    data_keys_to_settle,
    key_periods_retire,
    keyring,
    keystore,
)
from proctor.keystore import KeyStoreError, PeriodKeyDestroyed, period_id_for
from proctor.models import AuditEvent, DataKey

OLD = ("old", b"o" * 32)
NEW = ("new", b"n" * 32)


def line(*keys: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return list(keys)


def legacy_key(master: tuple[str, bytes]) -> tuple[DataKey, bytes]:
    """A data key as made before retention periods: wrapped by a master key directly."""
    legacy = DataKey(purpose="recording", kek_id=master[0])
    material = crypto.new_data_key()
    legacy.wrapped = crypto.KeyRing([master]).wrap(material, label=legacy.label)
    legacy.save(force_insert=True)
    return legacy, material


@pytest.fixture(autouse=True)
def own_keystore(settings: Any, tmp_path: Path) -> Path:
    """A key store of this test's own, so the period keys it finds are this test's only."""
    settings.INVIGIL_KEYSTORE_DIR = tmp_path / "keystore"
    settings.INVIGIL_KEYSTORE_DIR.mkdir()
    return settings.INVIGIL_KEYSTORE_DIR


@pytest.mark.django_db
def test_a_data_key_is_stored_only_wrapped() -> None:
    data_key = data_key_create(purpose="recording", due_at=None)
    material = data_key_material(data_key)
    assert len(material) == 32
    stored = bytes(DataKey.objects.get(pk=data_key.pk).wrapped)
    assert material not in stored
    assert base64.b64encode(material) not in stored


@pytest.mark.django_db
def test_a_wrapped_key_moved_to_another_row_does_not_unwrap() -> None:
    first, second = data_key_create(purpose="recording", due_at=None), data_key_create(purpose="recording", due_at=None)
    second.wrapped = first.wrapped
    with pytest.raises(crypto.DecryptionError):
        data_key_material(second)


@pytest.mark.django_db
def test_a_destroyed_key_is_gone_for_good() -> None:
    data_key = data_key_create(purpose="recording", due_at=None)
    sealed = crypto.seal(data_key_material(data_key), label=b"media", plaintext=b"webm bytes")
    data_key_destroy(data_key=data_key)
    stored = DataKey.objects.get(pk=data_key.pk)
    assert stored.wrapped is None
    assert stored.destroyed_at is not None
    with pytest.raises(DataKeyDestroyed, match="destroyed"):
        data_key_material(stored)
    assert sealed  # the ciphertext still exists, but nothing can open it any more


@pytest.mark.django_db
def test_rotation_reseals_period_keys_and_old_media_still_opens() -> None:
    with override_settings(INVIGIL_KEYS=line(OLD)):
        data_key = data_key_create(purpose="recording", due_at=None)
        sealed = crypto.seal(data_key_material(data_key), label=b"rec:1", plaintext=b"x" * 200_000)
        (period,) = keystore().periods()
    assert data_key.kek_id == period
    wrapped_before = bytes(data_key.wrapped)

    with override_settings(INVIGIL_KEYS=line(NEW, OLD)):
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
        assert "Re-sealed 1 retention-period keys and re-wrapped 0 data keys" in out.getvalue()
        call_command("rotate_keys", stdout=out)  # idempotent: nothing left to do
        assert "Re-sealed 0 retention-period keys and re-wrapped 0 data keys" in out.getvalue()

    data_key.refresh_from_db()
    assert bytes(data_key.wrapped) == wrapped_before  # the data key needed no change: its period key moved
    with override_settings(INVIGIL_KEYS=line(NEW)):
        assert crypto.open_sealed(data_key_material(data_key), label=b"rec:1", ciphertext=sealed) == b"x" * 200_000
    with override_settings(INVIGIL_KEYS=line(OLD)), pytest.raises(crypto.UnknownKeyError, match="new"):
        data_key_material(data_key)


@pytest.mark.django_db
def test_rotation_rewraps_a_data_key_wrapped_by_a_master_key_directly() -> None:
    legacy, material = legacy_key(OLD)
    with override_settings(INVIGIL_KEYS=line(NEW, OLD)):
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
        assert "re-wrapped 1 data keys" in out.getvalue()
    legacy.refresh_from_db()
    assert legacy.kek_id == "new"
    with override_settings(INVIGIL_KEYS=line(NEW)):
        assert data_key_material(legacy) == material


@pytest.mark.django_db
def test_rotation_refuses_to_report_success_while_old_keys_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management import CommandError

    legacy_key(OLD)
    # As if another job held the row locked for the whole run, so the re-wrap skipped it.
    monkeypatch.setattr("proctor.management.commands.rotate_keys.data_keys_rewrap", lambda: 0)
    with override_settings(INVIGIL_KEYS=line(NEW, OLD)), pytest.raises(CommandError, match="1 are still under older"):
        call_command("rotate_keys", stdout=io.StringIO())


DAY = timedelta(days=1)


@pytest.mark.django_db
def test_a_data_key_goes_under_the_period_of_its_purge_date_never_one_already_ended() -> None:
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC)):
        due_in_june = data_key_create(purpose="recording", due_at=datetime(2027, 6, 15, tzinfo=UTC))
        overdue = data_key_create(purpose="recording", due_at=datetime(2027, 1, 15, tzinfo=UTC))
        unknown = data_key_create(purpose="identity", due_at=None)
        assert [k.kek_id for k in (due_in_june, overdue, unknown)] == [
            "period:2027-06",
            "period:2027-03",
            "period:2027-03",
        ]
        assert keystore().periods() == ["period:2027-03", "period:2027-06"]
        # The id inside the wrapped bytes says the same, and only the period key opens it.
        assert crypto.kek_id_of(bytes(due_in_june.wrapped)) == "period:2027-06"
        with pytest.raises(crypto.UnknownKeyError):
            keyring().unwrap(bytes(due_in_june.wrapped), label=due_in_june.label)
        assert len(data_key_material(due_in_june)) == 32


@pytest.mark.django_db
def test_keys_made_together_each_go_under_their_own_period_and_open_alone() -> None:
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC)):
        made = data_keys_create(
            purpose="recording", due_ats=[datetime(2027, 6, 15, tzinfo=UTC), None, datetime(2027, 6, 1, tzinfo=UTC)]
        )
        assert [k.kek_id for k in made] == ["period:2027-06", "period:2027-03", "period:2027-06"]
        stored = {k.pk: k for k in DataKey.objects.all()}
        assert set(stored) == {k.pk for k in made}
        materials = [data_key_material(stored[k.pk]) for k in made]
        assert len(set(materials)) == 3  # a fresh key each, never one shared
        # Each is bound to its own row: swapping two wrapped keys between rows opens neither.
        first, second = stored[made[0].pk], stored[made[2].pk]
        first.wrapped, second.wrapped = second.wrapped, first.wrapped
        with pytest.raises(crypto.DecryptionError):
            data_key_material(first)


@pytest.mark.django_db
def test_a_missing_key_store_refuses_to_make_a_key_and_stores_nothing(settings: Any, tmp_path: Path) -> None:
    settings.INVIGIL_KEYSTORE_DIR = tmp_path / "not-mounted"
    with pytest.raises(KeyStoreError, match="INVIGIL_KEYSTORE_DIR"):
        data_key_create(purpose="recording", due_at=None)
    assert not DataKey.objects.exists()


@pytest.mark.django_db
def test_a_period_key_is_destroyed_only_once_its_month_is_over_and_nothing_live_is_under_it() -> None:
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC)):
        live = data_key_create(purpose="recording", due_at=datetime(2027, 4, 5, tzinfo=UTC))
        shredded = data_key_create(purpose="recording", due_at=datetime(2027, 4, 20, tzinfo=UTC))
        data_key_destroy(data_key=shredded)
        assert key_periods_retire(now=timezone.now()) == []  # April has not even begun
    with time_machine.travel(datetime(2027, 5, 1, 12, tzinfo=UTC)):
        assert key_periods_retire(now=timezone.now()) == []  # within a day of April's end
    with time_machine.travel(datetime(2027, 5, 3, tzinfo=UTC)):
        assert key_periods_retire(now=timezone.now()) == []  # a live key is still under April's
        assert "period:2027-04" in keystore().periods()
        assert len(data_key_material(live)) == 32
        data_key_destroy(data_key=live)
        assert key_periods_retire(now=timezone.now()) == ["period:2027-04"]
    assert keystore().periods() == []
    event = AuditEvent.objects.get(action="key_period.destroyed")
    assert event.detail == {"period": "period:2027-04"}


@pytest.mark.django_db
def test_a_key_kept_past_its_date_moves_to_a_later_period_before_the_old_one_goes() -> None:
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC)):
        held = data_key_create(purpose="recording", due_at=datetime(2027, 4, 5, tzinfo=UTC))
        sealed = crypto.seal(data_key_material(held), label=b"rec:held", plaintext=b"evidence")
        old_wrapped = bytes(held.wrapped)
    with time_machine.travel(datetime(2027, 5, 3, tzinfo=UTC)):
        assert data_keys_to_settle(now=timezone.now()) == [held.pk]
        # Due date passed but a hold keeps it: the current month; again when the month ends.
        assert data_key_move(data_key_id=held.pk, due_at=datetime(2027, 4, 5, tzinfo=UTC)) is True
        held.refresh_from_db()
        assert held.kek_id == "period:2027-05"
        assert data_key_move(data_key_id=held.pk, due_at=None) is False  # already there
        assert data_keys_to_settle(now=timezone.now()) == []
        assert key_periods_retire(now=timezone.now()) == ["period:2027-04"]
        assert crypto.open_sealed(data_key_material(held), label=b"rec:held", ciphertext=sealed) == b"evidence"
        # The row as it was before the move (an older database backup) opens no more.
        before = DataKey(id=held.id, purpose=held.purpose, kek_id="period:2027-04", wrapped=old_wrapped)
        with pytest.raises(PeriodKeyDestroyed):
            data_key_material(before)
        # A later due date (the hold lifted, an appeal window) puts it in that month's period.
        assert data_key_move(data_key_id=held.pk, due_at=datetime(2027, 9, 1, tzinfo=UTC)) is True
        held.refresh_from_db()
        assert held.kek_id == "period:2027-09"
        assert crypto.open_sealed(data_key_material(held), label=b"rec:held", ciphertext=sealed) == b"evidence"


@pytest.mark.django_db
def test_a_key_wrapped_by_the_master_key_directly_still_opens_and_is_moved_into_a_period() -> None:
    legacy, material = legacy_key(settings.INVIGIL_KEYS[0])
    assert data_key_material(legacy) == material
    assert data_keys_to_settle(now=timezone.now()) == [legacy.pk]
    assert data_key_move(data_key_id=legacy.pk, due_at=timezone.now() + 40 * DAY) is True
    legacy.refresh_from_db()
    assert legacy.kek_id == period_id_for(timezone.now() + 40 * DAY)
    assert data_key_material(legacy) == material
    assert data_keys_to_settle(now=timezone.now()) == []


@pytest.mark.django_db
def test_a_period_key_that_cannot_be_destroyed_stays_with_no_entry_saying_it_went(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC)):
        data_key_create(purpose="recording", due_at=None)
    DataKey.objects.update(wrapped=None, destroyed_at=datetime(2027, 3, 20, tzinfo=UTC))

    def disk_full(self: Any, period_id: str) -> bool:
        raise OSError("No space left on device")

    monkeypatch.setattr("proctor.keystore.KeyStore.destroy", disk_full)
    with time_machine.travel(datetime(2027, 4, 5, tzinfo=UTC)), pytest.raises(OSError, match="No space left"):
        key_periods_retire(now=timezone.now())
    assert keystore().periods() == ["period:2027-03"]
    assert not AuditEvent.objects.filter(action="key_period.destroyed").exists()
