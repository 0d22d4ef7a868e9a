"""Data keys: create, unwrap, destroy and re-wrap. With crypto.py, the only code that touches keys."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from proctor import crypto
from proctor.models import DataKey


class DataKeyDestroyed(crypto.DecryptionError):
    """The data key was crypto-shredded: what it encrypted is gone for good."""


@lru_cache(maxsize=4)
def _keyring(keks: tuple[tuple[str, bytes], ...]) -> crypto.KeyRing:
    return crypto.KeyRing(list(keks))


def keyring() -> crypto.KeyRing:
    """The key-encryption keys from settings (INVIGIL_KEYS), primary first."""
    return _keyring(tuple(settings.INVIGIL_KEYS))


def data_key_create(*, purpose: str) -> DataKey:
    """A fresh random data key, stored wrapped by the primary key-encryption key."""
    data_key = DataKey(purpose=purpose)
    ring = keyring()
    data_key.wrapped = ring.wrap(crypto.new_data_key(), label=data_key.label)
    data_key.kek_id = ring.primary_id
    data_key.save(force_insert=True)
    return data_key


def data_key_material(data_key: DataKey) -> bytes:
    """The plaintext key, held in memory only for the duration of one encrypt or decrypt."""
    if data_key.wrapped is None:
        raise DataKeyDestroyed(f"Data key {data_key.id} was destroyed on {data_key.destroyed_at:%Y-%m-%d}.")
    return keyring().unwrap(bytes(data_key.wrapped), label=data_key.label)


def data_key_destroy(*, data_key: DataKey) -> None:
    """Crypto-shred: forget the wrapped key. Everything encrypted under it becomes unreadable."""
    DataKey.objects.filter(id=data_key.id, wrapped__isnull=False).update(wrapped=None, destroyed_at=timezone.now())
    data_key.refresh_from_db()


def data_keys_forget(ids: list[Any]) -> None:
    """Delete the rows of destroyed data keys once nothing refers to them; live keys are never touched."""
    DataKey.objects.filter(pk__in=ids, wrapped__isnull=True).delete()


def data_keys_not_under_primary() -> int:
    """Live data keys still wrapped by an older key-encryption key (0 once rotation is complete)."""
    return DataKey.objects.filter(wrapped__isnull=False).exclude(kek_id=keyring().primary_id).count()


def data_keys_rewrap(*, batch_size: int = 500) -> int:
    """Re-wrap every live data key not yet under the primary key-encryption key; media is untouched.

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
                .exclude(kek_id=ring.primary_id)[:batch_size]
            )
            if not batch:
                return done
            for data_key in batch:
                assert data_key.wrapped is not None
                data_key.wrapped = ring.rewrap(bytes(data_key.wrapped), label=data_key.label)
                data_key.kek_id = ring.primary_id
            DataKey.objects.bulk_update(batch, ["wrapped", "kek_id"])
            done += len(batch)
