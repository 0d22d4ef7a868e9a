"""Core records: wrapped data keys, the hash-chained audit log, and the task outbox."""

from __future__ import annotations

import uuid

from django.db import models


class DataKey(models.Model):
    """One AES-256 data key, stored only wrapped: by the retention-period key of the month its data is due
    for purging (proctor.keystore; ``kek_id`` is then ``period:YYYY-MM``), or, for keys made before
    periods existed, by a master key-encryption key from settings.

    Every recording and identity profile has its own. Destroying the wrapped key (crypto-shredding)
    makes everything encrypted under it unreadable, even in backups of the storage; destroying its
    period key does the same for the copies in database backups. Holds no personal data itself.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=40, help_text="What the key encrypts, e.g. 'recording'.")
    wrapped = models.BinaryField(null=True, editable=False)
    kek_id = models.CharField("key-encryption key", max_length=32, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="datakey_wrapped_xor_destroyed",
                condition=models.Q(wrapped__isnull=True, destroyed_at__isnull=False)
                | models.Q(wrapped__isnull=False, destroyed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else f"wrapped by {self.kek_id}"
        return f"{self.purpose} key {self.id} ({state})"

    @property
    def label(self) -> bytes:
        """Associated data that binds the wrapped key to this row."""
        return f"datakey:{self.id}".encode()


class Outcome(models.TextChoices):
    DONE = "done", "Done"
    REFUSED = "refused", "Refused"


class AuditEvent(models.Model):
    """One entry of the append-only audit log: who did what to which object, when and from where.

    Personal data: the actor's user id and username, their IP address, and the object acted on.
    Rows are never updated or deleted (database triggers refuse it); each row's hash covers its
    contents and the previous row's hash, so `manage.py verify_audit` finds any edit or deletion.
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(db_index=True, editable=False)
    # Plain ids, not foreign keys: deleting a user must not rewrite (or cascade into) the log.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    actor_label = models.CharField(max_length=150, blank=True, editable=False)
    action = models.CharField(max_length=80, db_index=True, editable=False)
    target_type = models.CharField(max_length=80, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    detail = models.JSONField(default=dict, blank=True, editable=False)
    # Who the actor was acting as (admin, instructor, reviewer, student, system), why (the purpose they
    # stated before reading personal data), and whether the action happened or was refused.
    role = models.CharField(max_length=20, blank=True, editable=False)
    purpose = models.CharField(max_length=300, blank=True, editable=False)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.DONE, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        who = self.actor_label or "system"
        return f"#{self.seq} {self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"


class AuditSubject(models.Model):
    """Whose personal data an audit entry touched: one row per person, so "who read this student's
    data" is an index lookup on a log of millions. The entry's hash covers the same list, so a row
    added or removed here disagrees with its entry (``manage.py verify_audit``)."""

    seq = models.BigIntegerField(editable=False)
    subject_id = models.BigIntegerField(editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject_id", "seq"], name="auditsubject_once")]
        indexes = [models.Index(fields=["seq"])]

    def __str__(self) -> str:
        return f"audit entry #{self.seq} touched user {self.subject_id}"


class AuditHead(models.Model):
    """The single row that names the newest audit entry; appending locks it, so the chain never forks.

    It also lets verification notice rows deleted from the end of the log.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(name="audithead_singleton", condition=models.Q(id=1))]

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"


class QueuedTask(models.Model):
    """A Celery task that must reach the broker: written in the transaction that makes it due, sent
    once that commits, and deleted when the broker has taken it. A row still here means the broker
    could not be reached; the outbox sweep (proctor.outbox) sends it later. Holds a task name and
    object ids, no personal data; deleted once sent."""

    task = models.CharField(max_length=100)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
