"""Test helper: rewrite audit rows as an attacker with direct database access would."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_migration = importlib.import_module("proctor.migrations.0002_audit_append_only")


def audit_triggers_present() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'proctor_auditevent_append_only'")
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type='trigger' AND tbl_name='proctor_auditevent'")
        return bool(cursor.fetchone()[0])


def audit_triggers_drop() -> None:
    with connection.schema_editor() as editor:
        _migration.remove_triggers(None, editor)


def audit_triggers_ensure() -> None:
    if not audit_triggers_present():
        with connection.schema_editor() as editor:
            _migration.add_triggers(None, editor)


@contextmanager
def triggers_bypassed() -> Iterator[None]:
    """Drop the append-only triggers for the duration of the block, as a DBA could, and put them back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE proctor_auditevent DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute("ALTER TABLE proctor_auditevent ENABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='proctor_auditevent'")
            saved = cursor.fetchall()
            for name, _ in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
            try:
                yield
            finally:
                for _, sql in saved:
                    cursor.execute(sql)
