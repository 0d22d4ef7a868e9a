"""Test helper: rewrite audit rows as an attacker with direct database access would."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# The entries' triggers (0002) define the function the people-index triggers (0003) use: add in this
# order, drop in the reverse.
_migrations = [
    importlib.import_module("proctor.migrations.0002_audit_append_only"),
    importlib.import_module("proctor.migrations.0003_audit_role_purpose_outcome_subjects"),
]
TABLES = ("proctor_auditevent", "proctor_auditsubject")


def audit_triggers_present() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                "('proctor_auditevent_append_only', 'proctor_auditsubject_append_only')"
            )
            return bool(cursor.fetchone()[0] == 2)
        cursor.execute(
            "SELECT count(DISTINCT tbl_name) FROM sqlite_master WHERE type='trigger' AND tbl_name IN (%s, %s)", TABLES
        )
        return bool(cursor.fetchone()[0] == 2)


def audit_triggers_drop() -> None:
    with connection.schema_editor() as editor:
        for migration in reversed(_migrations):
            migration.remove_triggers(None, editor)


def audit_triggers_ensure() -> None:
    if not audit_triggers_present():
        audit_triggers_drop()
        with connection.schema_editor() as editor:
            for migration in _migrations:
                migration.add_triggers(None, editor)


@contextmanager
def triggers_bypassed() -> Iterator[None]:
    """Drop the append-only triggers for the duration of the block, as a DBA could, and put them back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                for table in TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name IN (%s, %s)", TABLES)
            saved = cursor.fetchall()
            for name, _ in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
            try:
                yield
            finally:
                for _, sql in saved:
                    cursor.execute(sql)


def audit_anchors_clear() -> None:
    """Delete every head anchor. They live outside the database, so they outlive a test's rows, and the
    next test's log starts empty and must not be judged against them."""
    from proctor.audit import anchor_storage

    storage = anchor_storage()
    try:
        _, names = storage.listdir("")
    except FileNotFoundError:
        return
    for name in names:
        storage.delete(name)
