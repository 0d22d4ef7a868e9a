"""Retention-period keys in the object store (ObjectKeyStore), shared by every machine: against a real S3
endpoint (tests/s3.py), with the guarantees of the filesystem key store."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from proctor import crypto, keystore
from proctor.keys import data_key_create, data_key_material
from proctor.keys import keystore as configured_keystore
from proctor.keystore import ObjectKeyStore, PeriodKeyDestroyed, period_key_label
from proctor.storage import ObjectStorage
from tests.s3 import MEDIA_BUCKET

OLD = ("m1", b"m" * 32)
NEW = ("m2", b"n" * 32)
MASTER = crypto.KeyRing([OLD])
LABEL = b"datakey:test"
PERIOD = "period:2027-06"


@pytest.fixture
def prefix() -> str:
    return f"keys-{uuid.uuid4().hex[:12]}"


def object_keystore(s3_server: Any, prefix: str, master: crypto.KeyRing = MASTER) -> ObjectKeyStore:
    """A key store as one machine sees it: its own connection, nothing of another's in memory."""
    keystore._cache.clear()
    return ObjectKeyStore(ObjectStorage(**s3_server.storage_options(bucket=MEDIA_BUCKET, prefix=prefix)), master)


def stored(s3_server: Any, prefix: str) -> list[bytes]:
    """Every version of every object under the prefix, as the bucket's owner sees them."""
    return [s3_server.read_version(MEDIA_BUCKET, entry) for entry in s3_server.versions(MEDIA_BUCKET, prefix + "/")]


def test_a_period_key_is_stored_sealed_and_another_machine_finds_the_same_key(s3_server: Any, prefix: str) -> None:
    wrapped = object_keystore(s3_server, prefix).ring(PERIOD, create=True).wrap(b"d" * 32, label=LABEL)
    (sealed,) = stored(s3_server, prefix)
    period_key = MASTER.unwrap(sealed, label=period_key_label(PERIOD))
    assert period_key not in sealed
    other = object_keystore(s3_server, prefix)
    assert other.periods() == [PERIOD]
    assert other.ring(PERIOD).unwrap(wrapped, label=LABEL) == b"d" * 32
    with pytest.raises(crypto.UnknownKeyError):
        object_keystore(s3_server, prefix, crypto.KeyRing([NEW])).ring(PERIOD)


def test_a_second_machine_creating_the_same_period_key_never_replaces_it(s3_server: Any, prefix: str) -> None:
    first = object_keystore(s3_server, prefix)
    wrapped = first.ring(PERIOD, create=True).wrap(b"d" * 32, label=LABEL)
    # As if the second machine had found no key a moment before the first one wrote it.
    second = object_keystore(s3_server, prefix)
    second._create(PERIOD, second._key(PERIOD))
    assert len(stored(s3_server, prefix)) == 1  # not even an older version was replaced
    assert second.ring(PERIOD).unwrap(wrapped, label=LABEL) == b"d" * 32


def test_machines_racing_to_create_a_period_key_all_end_up_with_the_one_stored(s3_server: Any, prefix: str) -> None:
    stores = [object_keystore(s3_server, prefix) for _ in range(4)]
    with ThreadPoolExecutor(len(stores)) as pool:
        rings = list(pool.map(lambda store: store.ring(PERIOD, create=True), stores))
    (sealed,) = stored(s3_server, prefix)
    key = MASTER.unwrap(sealed, label=period_key_label(PERIOD))
    wrapped = crypto.KeyRing([(PERIOD, key)]).wrap(b"d" * 32, label=LABEL)
    assert all(ring.unwrap(wrapped, label=LABEL) == b"d" * 32 for ring in rings)


def test_destroying_a_period_key_leaves_no_version_of_it(s3_server: Any, prefix: str) -> None:
    old = object_keystore(s3_server, prefix)
    old.ring(PERIOD, create=True)
    old.ring("period:2027-07", create=True)
    store = object_keystore(s3_server, prefix, crypto.KeyRing([NEW, OLD]))
    store.rewrap()  # a second version of each, had rewrap not removed the first
    assert store.destroy(PERIOD)
    assert store.periods() == ["period:2027-07"]
    assert [entry["Key"] for entry in s3_server.versions(MEDIA_BUCKET, prefix + "/")] == [
        f"{prefix}/period-2027-07.key"
    ]
    with pytest.raises(PeriodKeyDestroyed):
        store.ring(PERIOD)
    assert not store.destroy(PERIOD)


def test_rewrapping_seals_every_period_key_with_the_new_master_key_and_keeps_no_old_version(
    s3_server: Any, prefix: str
) -> None:
    old = object_keystore(s3_server, prefix)
    wrapped = old.ring(PERIOD, create=True).wrap(b"d" * 32, label=LABEL)
    store = object_keystore(s3_server, prefix, crypto.KeyRing([NEW, OLD]))
    assert store.not_under_primary() == 1
    assert store.rewrap() == 1
    assert store.rewrap() == 0
    assert store.not_under_primary() == 0
    (sealed,) = stored(s3_server, prefix)
    assert crypto.kek_id_of(sealed) == "m2"
    # The old master key can be retired: the new one alone opens the period key, the same as before.
    assert object_keystore(s3_server, prefix, crypto.KeyRing([NEW])).ring(PERIOD).unwrap(wrapped, label=LABEL) == (
        b"d" * 32
    )


@pytest.mark.django_db
def test_data_keys_use_the_object_store_when_a_keystore_prefix_is_configured(
    s3_server: Any, s3_media: Any, settings: Any, prefix: str
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "keystore": {
            "BACKEND": "proctor.storage.ObjectStorage",
            "OPTIONS": s3_server.storage_options(bucket=MEDIA_BUCKET, prefix=prefix),
        },
    }
    data_key = data_key_create(purpose="recording", due_at=None)
    store = configured_keystore()
    assert isinstance(store, ObjectKeyStore)
    assert store.periods() == [data_key.kek_id]
    material = data_key_material(data_key)
    assert store.destroy(data_key.kek_id)
    with pytest.raises(PeriodKeyDestroyed):
        data_key_material(data_key)
    assert len(material) == 32
