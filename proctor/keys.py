"""Data keys: create, unwrap, move between retention periods, destroy and re-wrap. With crypto.py and
keystore.py, the only code that touches keys.

Every new data key is wrapped by the period key (proctor.keystore) of the month its data is due for purging;
the period key is itself sealed by the master key from settings. Keys from before periods existed are
wrapped by the master key directly; they still open, and the retention job moves them into periods.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from proctor import crypto
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keystore import (
    PERIOD_GRACE,
    KeyStore,
    ObjectKeyStore,
    PeriodKeyStore,
    is_period_id,
    period_end,
    period_id_for,
)
from proctor.models import DataKey
from proctor.storage import ObjectStorage

logger = logging.getLogger(__name__)


class DataKeyDestroyed(crypto.DecryptionError):
    """The data key was crypto-shredded: what it encrypted is gone for good."""


@lru_cache(maxsize=4)
def _keyring(keks: tuple[tuple[str, bytes], ...]) -> crypto.KeyRing:
    return crypto.KeyRing(list(keks))


def keyring() -> crypto.KeyRing:
    """The master key-encryption keys from settings (INVIGIL_KEYS), primary first."""
    return _keyring(tuple(settings.INVIGIL_KEYS))


@lru_cache(maxsize=4)
def _keystore(directory: str, master: crypto.KeyRing) -> KeyStore:
    return KeyStore(directory, master)


@lru_cache(maxsize=4)
def _object_keystore(options: tuple[tuple[str, Any], ...], master: crypto.KeyRing) -> ObjectKeyStore:
    return ObjectKeyStore(ObjectStorage(**dict(options)), master)


def keystore() -> PeriodKeyStore:
    """The period keys, sealed by the master keys: under STORAGES["keystore"] in the object store when
    that is configured (INVIGIL_KEYSTORE_PREFIX), else in INVIGIL_KEYSTORE_DIR."""
    if "keystore" in settings.STORAGES:
        options = settings.STORAGES["keystore"]["OPTIONS"]
        return _object_keystore(tuple(sorted(options.items())), keyring())
    return _keystore(str(settings.INVIGIL_KEYSTORE_DIR), keyring())


def period_for(due_at: datetime | None) -> str:
    """The period a key due at ``due_at`` goes into: never one already ended (a due date in the past, or
    one not known yet, means the current month; the retention job moves it on at the month's end)."""
    now = timezone.now()
    return period_id_for(now if due_at is None or due_at < now else due_at)


def _ring_for(kek_id: str) -> crypto.KeyRing:
    return keystore().ring(kek_id) if is_period_id(kek_id) else keyring()


#: The retention purge runs daily, so a period key is destroyed within a day of becoming destroyable.
PURGE_INTERVAL = timedelta(days=1)


def data_key_backups_readable_until(data_key: DataKey) -> datetime | None:
    """The latest time a database backup made before now can still unwrap ``data_key``: when the daily
    retention job destroys its period key, within a day after PERIOD_GRACE past the period's end. (A backup
    from before a move holds it under an earlier period, destroyed sooner.) None for a key wrapped by a
    master key directly, readable in a backup for as long as that master key lives."""
    if not is_period_id(data_key.kek_id):
        return None
    return period_end(data_key.kek_id) + PERIOD_GRACE + PURGE_INTERVAL


def data_key_create(*, purpose: str, due_at: datetime | None) -> DataKey:
    """A fresh random data key, stored wrapped by the period key of ``due_at``, when what it encrypts is
    due for purging (None when the caller cannot know yet: the current month's, moved on later)."""
    (data_key,) = data_keys_create(purpose=purpose, due_ats=[due_at])
    return data_key


def data_keys_create(*, purpose: str, due_ats: Sequence[datetime | None]) -> list[DataKey]:
    """A fresh random data key for each due date, as data_key_create makes it, stored in one INSERT (a
    thousand students starting their streams at nine o'clock need two thousand)."""
    store = keystore()
    data_keys = []
    for due_at in due_ats:
        data_key = DataKey(purpose=purpose)
        period = period_for(due_at)
        data_key.wrapped = store.ring(period, create=True).wrap(crypto.new_data_key(), label=data_key.label)
        data_key.kek_id = period
        data_keys.append(data_key)
    return DataKey.objects.bulk_create(data_keys)


def data_key_material(data_key: DataKey) -> bytes:
    """The plaintext key, held in memory only for the duration of one encrypt or decrypt."""
    if data_key.wrapped is None:
        raise DataKeyDestroyed(f"Data key {data_key.id} was destroyed on {data_key.destroyed_at:%Y-%m-%d}.")
    wrapped = bytes(data_key.wrapped)
    # The id inside the wrapped bytes is authenticated; the column is only for queries.
    return _ring_for(crypto.kek_id_of(wrapped)).unwrap(wrapped, label=data_key.label)


def data_key_destroy(*, data_key: DataKey) -> None:
    """Crypto-shred: forget the wrapped key. Everything encrypted under it becomes unreadable."""
    DataKey.objects.filter(id=data_key.id, wrapped__isnull=False).update(wrapped=None, destroyed_at=timezone.now())
    data_key.refresh_from_db()


def data_keys_forget(ids: list[Any]) -> None:
    """Delete the rows of destroyed data keys once nothing refers to them; live keys are never touched."""
    DataKey.objects.filter(pk__in=ids, wrapped__isnull=True).delete()


def data_key_move(*, data_key_id: Any, due_at: datetime | None) -> bool:
    """Re-wrap a live data key into the period of its (new) purge date; the media is untouched. False
    when it is already there or was destroyed meanwhile."""
    target = period_for(due_at)
    with transaction.atomic():
        data_key = DataKey.objects.select_for_update().filter(pk=data_key_id, wrapped__isnull=False).first()
        if data_key is None or data_key.kek_id == target:
            return False
        material = data_key_material(data_key)
        data_key.wrapped = keystore().ring(target, create=True).wrap(material, label=data_key.label)
        data_key.kek_id = target
        data_key.save(update_fields=["wrapped", "kek_id"])
    return True


def data_keys_to_settle(*, now: datetime) -> list[Any]:
    """Ids of live data keys that must move before their period key can go: those under a period that has
    ended (kept past their purge date, or whose date moved later), and those wrapped by a master key
    directly (made before periods existed)."""
    current = period_id_for(now)
    ids = []
    for pk, kek_id in DataKey.objects.filter(wrapped__isnull=False).values_list("pk", "kek_id").iterator():
        if not is_period_id(kek_id) or kek_id < current:
            ids.append(pk)
    return ids


def key_periods_retire(*, now: datetime) -> list[str]:
    """Destroy every period key whose month ended (at least PERIOD_GRACE ago) and under which no live data
    key is left, each with an audit entry. Periods that still hold live keys are left, and logged: the
    caller moves those keys first (data_key_move). Returns the ids destroyed."""
    store = keystore()
    destroyed = []
    for period_id in store.periods():
        if period_end(period_id) + PERIOD_GRACE > now:
            continue
        live = DataKey.objects.filter(kek_id=period_id, wrapped__isnull=False).count()
        if live:
            logger.warning("Period key %s is kept: %d live data key(s) are still under it.", period_id, live)
            continue
        with transaction.atomic():
            # The entry first: if the file cannot be destroyed the entry rolls back; a file destroyed
            # cannot come back, so it must never be gone without its entry.
            audit_record(actor=None, action=AuditAction.KEY_PERIOD_DESTROYED, detail={"period": period_id})
            if not store.destroy(period_id):
                transaction.set_rollback(True)  # another run destroyed it meanwhile, and said so
                continue
            destroyed.append(period_id)
    return destroyed


def data_keys_not_under_primary() -> int:
    """Live data keys wrapped directly by an older master key, plus period keys sealed by one (0 once
    rotation is complete)."""
    primary = keyring().primary_id
    direct = DataKey.objects.filter(wrapped__isnull=False).exclude(kek_id=primary).exclude(kek_id__startswith="period:")
    return direct.count() + keystore().not_under_primary()


def period_keys_rewrap() -> int:
    """Seal every period key with the primary master key; the data keys under them are untouched."""
    return keystore().rewrap()


def data_keys_rewrap(*, batch_size: int = 500) -> int:
    """Re-wrap every live data key still wrapped directly by an older master key under the primary one;
    media is untouched. (Keys under period keys need no change: period_keys_rewrap re-seals those.)

    Runs in batches, each in its own transaction, so it can be stopped and run again at any point.
    Returns the number of keys re-wrapped.
    """
    ring = keyring()
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                DataKey.objects.select_for_update(skip_locked=True)
                .filter(wrapped__isnull=False)
                .exclude(kek_id=ring.primary_id)
                .exclude(kek_id__startswith="period:")[:batch_size]
            )
            if not batch:
                return done
            for data_key in batch:
                assert data_key.wrapped is not None
                data_key.wrapped = ring.rewrap(bytes(data_key.wrapped), label=data_key.label)
                data_key.kek_id = ring.primary_id
            DataKey.objects.bulk_update(batch, ["wrapped", "kek_id"])
            done += len(batch)
