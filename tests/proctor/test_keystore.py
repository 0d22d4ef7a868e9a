"""Retention-period keys: one per month of purge dates, kept sealed by the master key in files outside the
database, and gone for good once destroyed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from proctor import crypto
from proctor.keystore import (
    KeyStore,
    KeyStoreError,
    PeriodKeyDestroyed,
    is_period_id,
    period_end,
    period_id_for,
    period_key_label,
)

MASTER = crypto.KeyRing([("m1", b"m" * 32)])
LABEL = b"datakey:test"


def test_a_purge_date_belongs_to_the_period_of_its_month_in_utc() -> None:
    assert period_id_for(datetime(2027, 6, 30, 23, 59, tzinfo=UTC)) == "period:2027-06"
    # 1 July in Berlin is still 30 June in UTC.
    assert period_id_for(datetime(2027, 7, 1, 1, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == "period:2027-06"
    assert period_end("period:2027-06") == datetime(2027, 7, 1, tzinfo=UTC)
    assert period_end("period:2027-12") == datetime(2028, 1, 1, tzinfo=UTC)
    assert is_period_id("period:2027-06")
    assert not is_period_id("m1")
    with pytest.raises(ValueError, match="timezone-aware"):
        period_id_for(datetime(2027, 6, 1))


def test_a_period_key_is_stored_only_sealed_by_the_master_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, MASTER)
    ring = store.ring("period:2027-06", create=True)
    wrapped = ring.wrap(b"d" * 32, label=LABEL)
    (path,) = tmp_path.iterdir()
    assert path.name == "period-2027-06.key"
    assert path.stat().st_mode & 0o777 == 0o600
    period_key = MASTER.unwrap(path.read_bytes(), label=period_key_label("period:2027-06"))
    assert period_key not in path.read_bytes()
    assert crypto.KeyRing([("period:2027-06", period_key)]).unwrap(wrapped, label=LABEL) == b"d" * 32
    # Another store on the same folder (another process) finds the same key.
    assert KeyStore(tmp_path, MASTER).ring("period:2027-06").unwrap(wrapped, label=LABEL) == b"d" * 32
    # The key store alone is useless: another master key cannot open it.
    with pytest.raises(crypto.UnknownKeyError):
        KeyStore(tmp_path, crypto.KeyRing([("m2", b"x" * 32)])).ring("period:2027-06")


def test_a_second_creator_never_replaces_a_period_key_already_made(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, MASTER)
    wrapped = store.ring("period:2027-06", create=True).wrap(b"d" * 32, label=LABEL)
    # As if another process had found no file a moment before this one wrote it.
    store._create("period:2027-06", tmp_path / "period-2027-06.key")
    assert store.ring("period:2027-06").unwrap(wrapped, label=LABEL) == b"d" * 32
    assert [p.name for p in tmp_path.iterdir()] == ["period-2027-06.key"]


def test_a_destroyed_period_key_opens_nothing_even_in_a_process_that_just_used_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, MASTER)
    wrapped = store.ring("period:2027-06", create=True).wrap(b"d" * 32, label=LABEL)
    assert store.ring("period:2027-06").unwrap(wrapped, label=LABEL) == b"d" * 32  # now held in memory
    assert store.destroy("period:2027-06") is True
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PeriodKeyDestroyed, match="'period:2027-06' is not in the key store"):
        store.ring("period:2027-06")
    assert store.destroy("period:2027-06") is False  # already gone: nothing to do


def test_a_period_key_file_moved_to_another_month_or_damaged_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, MASTER)
    store.ring("period:2027-06", create=True)
    (tmp_path / "period-2027-06.key").rename(tmp_path / "period-2027-09.key")
    with pytest.raises(KeyStoreError, match="period-2027-09.key is damaged or not a period key"):
        store.ring("period:2027-09")
    (tmp_path / "period-2027-09.key").write_bytes(b"junk")
    with pytest.raises(KeyStoreError, match="damaged"):
        store.ring("period:2027-09")


def test_a_missing_key_store_is_a_clear_error_and_nothing_is_made(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "absent", MASTER)
    with pytest.raises(KeyStoreError, match=r"absent does not exist.*INVIGIL_KEYSTORE_DIR"):
        store.ring("period:2027-06", create=True)
    assert not (tmp_path / "absent").exists()
    with pytest.raises(ValueError, match="not a period id"):
        KeyStore(tmp_path, MASTER).ring("../m1", create=True)
