"""Make the audit log append-only in the database itself, and create the chain's head row.

Triggers refuse UPDATE and DELETE on audit entries, so neither the application nor a stray admin
action can rewrite history; the hash chain still catches anyone who bypasses the triggers.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

GENESIS = "0" * 64

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION invigil_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only: ' || TG_OP || ' is not allowed';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER proctor_auditevent_append_only
    BEFORE UPDATE OR DELETE ON proctor_auditevent
    FOR EACH ROW EXECUTE FUNCTION invigil_audit_append_only();
CREATE TRIGGER proctor_auditevent_no_truncate
    BEFORE TRUNCATE ON proctor_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION invigil_audit_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS proctor_auditevent_no_truncate ON proctor_auditevent;
DROP TRIGGER IF EXISTS proctor_auditevent_append_only ON proctor_auditevent;
DROP FUNCTION IF EXISTS invigil_audit_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER proctor_auditevent_no_update BEFORE UPDATE ON proctor_auditevent
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE is not allowed'); END;""",
    """CREATE TRIGGER proctor_auditevent_no_delete BEFORE DELETE ON proctor_auditevent
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE is not allowed'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS proctor_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS proctor_auditevent_no_delete;",
]


def add_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"Invigil supports PostgreSQL and SQLite, not {vendor}.")


def remove_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


def create_head(apps: Any, schema_editor: Any) -> None:
    apps.get_model("proctor", "AuditHead").objects.get_or_create(id=1, defaults={"seq": 0, "hash": GENESIS})


class Migration(migrations.Migration):
    dependencies = [("proctor", "0001_initial")]

    operations = [
        migrations.RunPython(add_triggers, remove_triggers),
        migrations.RunPython(create_head, migrations.RunPython.noop),
    ]
