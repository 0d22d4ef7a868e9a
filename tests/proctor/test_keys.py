"""Data keys: stored wrapped only, destroyed for good, re-wrapped on rotation without touching media."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from proctor import crypto
from proctor.keys import DataKeyDestroyed, data_key_create, data_key_destroy, data_key_material
from proctor.models import DataKey

OLD = ("old", b"o" * 32)
NEW = ("new", b"n" * 32)


def line(*keys: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return list(keys)


@pytest.mark.django_db
def test_a_data_key_is_stored_only_wrapped() -> None:
    data_key = data_key_create(purpose="recording")
    material = data_key_material(data_key)
    assert len(material) == 32
    stored = bytes(DataKey.objects.get(pk=data_key.pk).wrapped)
    assert material not in stored
    assert base64.b64encode(material) not in stored


@pytest.mark.django_db
def test_a_wrapped_key_moved_to_another_row_does_not_unwrap() -> None:
    first, second = data_key_create(purpose="recording"), data_key_create(purpose="recording")
    second.wrapped = first.wrapped
    with pytest.raises(crypto.DecryptionError):
        data_key_material(second)


@pytest.mark.django_db
def test_a_destroyed_key_is_gone_for_good() -> None:
    data_key = data_key_create(purpose="recording")
    sealed = crypto.seal(data_key_material(data_key), label=b"media", plaintext=b"webm bytes")
    data_key_destroy(data_key=data_key)
    stored = DataKey.objects.get(pk=data_key.pk)
    assert stored.wrapped is None
    assert stored.destroyed_at is not None
    with pytest.raises(DataKeyDestroyed, match="destroyed"):
        data_key_material(stored)
    assert sealed  # the ciphertext still exists, but nothing can open it any more


@pytest.mark.django_db
def test_rotation_rewraps_data_keys_and_old_media_still_opens() -> None:
    with override_settings(INVIGIL_KEYS=line(OLD)):
        data_key = data_key_create(purpose="recording")
        sealed = crypto.seal(data_key_material(data_key), label=b"rec:1", plaintext=b"x" * 200_000)
    assert data_key.kek_id == "old"

    with override_settings(INVIGIL_KEYS=line(NEW, OLD)):
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
        assert "Re-wrapped 1 data keys" in out.getvalue()
        call_command("rotate_keys", stdout=out)  # idempotent: nothing left to do
        assert "Re-wrapped 0 data keys" in out.getvalue()

    data_key.refresh_from_db()
    assert data_key.kek_id == "new"
    with override_settings(INVIGIL_KEYS=line(NEW)):
        assert crypto.open_sealed(data_key_material(data_key), label=b"rec:1", ciphertext=sealed) == b"x" * 200_000
    with override_settings(INVIGIL_KEYS=line(OLD)), pytest.raises(crypto.UnknownKeyError, match="new"):
        data_key_material(data_key)


@pytest.mark.django_db
def test_rotation_refuses_to_report_success_while_old_keys_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management import CommandError

    with override_settings(INVIGIL_KEYS=line(OLD)):
        data_key_create(purpose="recording")
    # As if another job held the row locked for the whole run, so the re-wrap skipped it.
    monkeypatch.setattr("proctor.management.commands.rotate_keys.data_keys_rewrap", lambda: 0)
    with override_settings(INVIGIL_KEYS=line(NEW, OLD)), pytest.raises(CommandError, match="1 are still under older"):
        call_command("rotate_keys", stdout=io.StringIO())
