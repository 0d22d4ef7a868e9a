"""The audit log answers a breach: roles, purposes, outcomes and the people each entry touched are
hashed into the chain; head anchors outside the database catch a lost or replaced log; the access
report finds who touched one person's data, or anyone's in a window."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import CommandError, call_command
from django.utils import timezone

from proctor.audit import (
    AccessQuery,
    Anchor,
    audit_accesses,
    audit_anchor_write,
    audit_anchors,
    audit_record,
    audit_verify,
    subjects_of,
)
from proctor.audit_actions import AuditAction
from proctor.models import AuditEvent, AuditHead, AuditSubject, Outcome
from tests.conftest import World
from tests.factories import UserFactory
from tests.proctor.tamper import triggers_bypassed


def test_role_purpose_outcome_and_people_are_stored_and_hashed(db: None) -> None:
    reader, student = UserFactory(), UserFactory()
    event = audit_record(
        actor=reader,
        action=AuditAction.RECORDING_PLAY,
        role="reviewer",
        purpose="flag #12",
        outcome=Outcome.DONE,
        subjects=[student.pk],
    )
    event.refresh_from_db()
    assert (event.role, event.purpose, event.outcome) == ("reviewer", "flag #12", "done")
    assert list(AuditSubject.objects.values_list("seq", "subject_id")) == [(event.seq, student.pk)]
    assert audit_verify().ok


@pytest.mark.parametrize(
    "tamper",
    [
        {"purpose": "curiosity"},
        {"role": "admin"},
        {"outcome": "done"},
    ],
)
def test_editing_the_role_purpose_or_outcome_breaks_the_chain(db: None, tamper: dict[str, str]) -> None:
    event = audit_record(
        actor=UserFactory(),
        action=AuditAction.RECORDING_PLAY,
        role="reviewer",
        purpose="flag #12",
        outcome=Outcome.REFUSED,
    )
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=event.seq).update(**tamper)
    result = audit_verify()
    assert result.first_break is not None
    assert result.first_break.seq == event.seq


def test_removing_or_adding_a_person_to_an_entry_breaks_the_chain(db: None) -> None:
    student, other = UserFactory(), UserFactory()
    event = audit_record(actor=None, action=AuditAction.RECORDING_PLAY, subjects=[student.pk])
    audit_record(actor=None, action=AuditAction.ANALYSIS_COMPLETE)
    with triggers_bypassed():
        AuditSubject.objects.filter(seq=event.seq).delete()
    assert audit_verify().first_break.seq == event.seq  # type: ignore[union-attr]
    with triggers_bypassed():
        AuditSubject.objects.create(seq=event.seq, subject_id=student.pk)
        AuditSubject.objects.create(seq=event.seq, subject_id=other.pk)
    assert audit_verify().first_break.seq == event.seq  # type: ignore[union-attr]


def test_the_people_index_is_append_only(db: None) -> None:
    from django.db import DatabaseError, IntegrityError, transaction

    event = audit_record(actor=None, action=AuditAction.RECORDING_PLAY, subjects=[UserFactory().pk])
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditSubject.objects.filter(seq=event.seq).delete()
    assert AuditSubject.objects.filter(seq=event.seq).count() == 1


def test_the_person_is_found_from_the_target(world: World) -> None:
    assert subjects_of(world.session) == [world.users["student"].pk]
    assert subjects_of(world.users["reviewer"]) == [world.users["reviewer"].pk]
    assert subjects_of(world.exam) == []
    event = audit_record(actor=world.users["reviewer"], action=AuditAction.REVIEW_SESSION_VIEW, target=world.session)
    assert list(AuditSubject.objects.filter(seq=event.seq).values_list("subject_id", flat=True)) == [
        world.users["student"].pk
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("instructor", "instructor"),
        ("reviewer", "reviewer"),
        ("admin", "admin"),
        ("student", "student"),
        ("other_instructor", "outsider"),
        ("outsider", "outsider"),
    ],
)
def test_an_entry_names_the_actors_role_in_the_course_of_what_they_touched(
    world: World, role: str, expected: str
) -> None:
    event = audit_record(actor=world.users[role], action=AuditAction.REVIEW_SESSION_VIEW, target=world.session)
    assert event.role == expected
    assert audit_record(actor=None, action=AuditAction.PURGE_RECORDINGS, target=world.session).role == "system"


# --- Anchors outside the database ------------------------------------------------------------------------


@pytest.fixture
def anchors(tmp_path: object) -> FileSystemStorage:
    return FileSystemStorage(location=str(tmp_path))


def test_an_anchor_holds_the_head_and_verification_accepts_an_intact_log(db: None, anchors: FileSystemStorage) -> None:
    for i in range(3):
        audit_record(actor=None, action=AuditAction.KEYS_ROTATE, detail={"i": i})
    anchor = audit_anchor_write(storage=anchors)
    head = AuditHead.objects.get()
    assert (anchor.seq, anchor.hash) == (head.seq, head.hash)
    assert audit_anchors(storage=anchors) == [anchor]
    audit_record(actor=None, action=AuditAction.ANALYSIS_COMPLETE)
    assert audit_verify(anchors=audit_anchors(storage=anchors)).ok


def test_losing_the_whole_log_and_its_head_is_caught_by_an_anchor(db: None, anchors: FileSystemStorage) -> None:
    for i in range(5):
        audit_record(actor=None, action=AuditAction.KEYS_ROTATE, detail={"i": i})
    audit_anchor_write(storage=anchors)
    with triggers_bypassed():
        AuditEvent.objects.all().delete()
        AuditHead.objects.all().delete()
    assert audit_verify(anchors=[]).ok  # without the anchor, an empty log looks fine
    result = audit_verify(anchors=audit_anchors(storage=anchors))
    assert result.first_break is not None
    assert "names #5" in result.first_break.problem


def test_rewriting_the_log_consistently_is_caught_by_an_anchor(db: None, anchors: FileSystemStorage) -> None:
    """An attacker who rewrites an entry and recomputes every hash and the head fools the chain alone."""
    from proctor.audit import GENESIS_HASH, _hash_of_row

    for i in range(4):
        audit_record(actor=None, action=AuditAction.KEYS_ROTATE, detail={"i": i})
    audit_anchor_write(storage=anchors)
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=2).update(detail={"i": "forged"})
        prev = GENESIS_HASH
        for event in AuditEvent.objects.order_by("seq"):
            event.prev_hash = prev
            event.hash = _hash_of_row(event)
            AuditEvent.objects.filter(seq=event.seq).update(prev_hash=event.prev_hash, hash=event.hash)
            prev = event.hash
        AuditHead.objects.filter(id=1).update(hash=prev)
    assert audit_verify(anchors=[]).ok
    result = audit_verify(anchors=audit_anchors(storage=anchors))
    assert result.first_break is not None
    assert result.first_break.seq == 4
    assert "anchored outside the database" in result.first_break.problem


def test_an_unreadable_anchor_is_reported_not_skipped(db: None, anchors: FileSystemStorage) -> None:
    from django.core.files.base import ContentFile

    anchors.save("2026-01-01T000000.json", ContentFile(b"{not json"))
    with pytest.raises(ValueError, match="2026-01-01T000000.json is not readable"):
        audit_anchors(storage=anchors)


def test_the_daily_task_anchors_an_intact_chain_and_not_a_broken_one(db: None) -> None:
    from proctor.tasks import audit_chain_verify

    audit_record(actor=None, action=AuditAction.KEYS_ROTATE)
    assert audit_chain_verify()["ok"] is True
    assert [anchor.seq for anchor in audit_anchors()] == [1]
    with triggers_bypassed():
        AuditEvent.objects.filter(seq=1).update(action="forged")
    assert audit_chain_verify()["ok"] is False
    assert [anchor.seq for anchor in audit_anchors()] == [1]


# --- The access report -----------------------------------------------------------------------------------


@pytest.fixture
def history(world: World) -> dict[str, AuditEvent]:
    student, other = world.users["student"], world.users["other_student"]
    return {
        "played": audit_record(
            actor=world.users["reviewer"],
            action=AuditAction.RECORDING_PLAY,
            target=world.session,
            purpose="flag #3",
        ),
        "refused": audit_record(
            actor=world.users["outsider"],
            action=AuditAction.ACCESS_REFUSED,
            target=world.session,
            outcome=Outcome.REFUSED,
        ),
        "other": audit_record(actor=world.users["reviewer"], action=AuditAction.RECORDING_PLAY, subjects=[other.pk]),
        "course": audit_record(
            actor=world.users["instructor"],
            action=AuditAction.REVIEW_EXPORT,
            target=world.course,
            subjects=[student.pk, other.pk],
        ),
        "nobody": audit_record(actor=world.users["instructor"], action=AuditAction.EXAM_PUBLISH, target=world.exam),
    }


def test_the_report_for_a_person_lists_every_entry_that_touched_them(
    world: World, history: dict[str, AuditEvent]
) -> None:
    found = list(audit_accesses(AccessQuery(subject_id=world.users["student"].pk)).values_list("seq", flat=True))
    assert found == [history[key].seq for key in ("played", "refused", "course")]


def test_the_report_for_a_window_lists_entries_that_touched_anyone_in_it(
    world: World, history: dict[str, AuditEvent]
) -> None:
    start = history["other"].at
    found = list(
        audit_accesses(AccessQuery(since=start, until=start + timedelta(hours=1))).values_list("action", flat=True)
    )
    assert found == ["recording.play", "review.export"]
    assert not audit_accesses(AccessQuery(since=start - timedelta(days=2), until=start - timedelta(days=1))).exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Name a person, a time window"),
        ({"since": timezone.now(), "until": timezone.now() - timedelta(1)}, "end after"),
    ],
)
def test_a_question_without_a_person_or_window_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AccessQuery(**kwargs)  # type: ignore[arg-type]


def test_the_command_prints_who_touched_the_persons_data(world: World, history: dict[str, AuditEvent]) -> None:
    out = StringIO()
    call_command("audit_access", "--person", "student", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0] == "seq,at,actor,role,action,target,purpose,outcome,ip,people"
    assert len(lines) == 5
    assert ",reviewer,reviewer,recording.play,exams.examsession:" in lines[1]
    assert ",flag #3,done," in lines[1]
    assert ",outsider,outsider,access.refused," in lines[2]
    assert ",refused," in lines[2]
    assert ",instructor,instructor,review.export," in lines[3]
    # The inquiry is itself on record, naming whose data it read, and so is in its own report.
    assert ",system,operator,audit.access_report," in lines[4]
    inquiry = AuditEvent.objects.get(action="audit.access_report")
    assert list(AuditSubject.objects.filter(seq=inquiry.seq).values_list("subject_id", flat=True)) == [
        world.users["student"].pk
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--person", "nobody-like-this"], "No user is called 'nobody-like-this'"),
        (["--since", "yesterday"], "'yesterday' is not a date"),
        ([], "Name a person, a time window, or both"),
        (["--since", "2026-05-02", "--until", "2026-05-01"], "end after it starts"),
    ],
)
def test_the_command_refuses_a_bad_question_and_writes_nothing(world: World, args: list[str], message: str) -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("audit_access", *args, stdout=StringIO(), stderr=StringIO())
    assert AuditEvent.objects.count() == before


def test_anchor_dataclass_round_trips(anchors: FileSystemStorage, db: None) -> None:
    written = audit_anchor_write(storage=anchors)
    assert isinstance(written, Anchor)
    assert audit_anchors(storage=anchors)[0].at == written.at
