"""The data inventory is checked against the code, not trusted: every model is declared; a model that
leads to a person is declared personal; every personal model declared in the export is found in a
full student's export; every model declared purged is gone (or cleared) after the purge, and every
model declared kept is still there."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analysis.models import AnalysisRun
from exams.models import (
    Accommodation,
    AlternativeRequest,
    ConsentDecision,
    ConsentRecord,
    ExamBreak,
    ExamSession,
    Mark,
    Question,
    RequestStatus,
)
from exams.models import SessionStatus as S
from identity.services import identity_enrol, identity_store_id_photo, identity_verify
from lti.models import ControlAction, ControlOutcome, ControlRequest, LtiIdentity, Platform, ProctoringAttempt
from privacy.export import my_data_export
from privacy.inventory import (
    BY_MODEL,
    EVERYTHING,
    INVENTORY,
    LIBRARIES,
    PROJECT_APPS,
    Entry,
    Retention,
    entry_for,
    inventory_markdown,
)
from privacy.models import LegalHold
from privacy.selectors import my_data
from privacy.services import purge_due
from recordings.models import Recording, RecordingChunk, RecordingGap
from review.models import Appeal, SessionDecision
from tests.analysis.conftest import jpeg
from tests.conftest import World, agree_to_face_matching, client_as
from tests.factories import ConsentPolicyFactory
from tests.privacy.conftest import DAY, webcam_webm

ANSWER = "Entropy never decreases in an isolated system (answer 7f3a)"
MARK_COMMENT = "Right, and well put (mark 5c1e)"
ACCOMMODATION_NOTE = "Uses a screen reader (note 91bc)"
ALTERNATIVE_REASON = "My flat has no private room (reason 2d4e)"
ALTERNATIVE_RESPONSE = "Sit it in room B12 on Friday (response 5a0c)"
BREAK_AT = datetime(2026, 3, 2, 9, 10, tzinfo=UTC)
APPEAL_GROUNDS = "I was reading the question aloud (grounds 8e1f)"
DECISION_NOTE = "Nothing of concern on review (note c4d2)"
HOLD_REASON = "Case 2026/117 of the disciplinary board"
SCORE = 42.5
INVENTORY_PAGE = reverse("data_inventory")


def project_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if model._meta.app_label in PROJECT_APPS]


def _forward(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The model's own foreign keys and one-to-one fields."""
    return [
        field
        for field in model._meta.get_fields()
        if field.concrete and (field.many_to_one or field.one_to_one) and field.related_model is not None
    ]


def leads_to_a_person(model: type[models.Model]) -> bool:
    """A chain of foreign keys leads from the model to a user or to an exam session."""
    person = {get_user_model(), ExamSession}
    seen, queue = {model}, deque([model])
    while queue:
        current = queue.popleft()
        if current in person:
            return True
        for field in _forward(current):
            related = field.related_model
            assert isinstance(related, type)
            if related not in seen:
                seen.add(related)
                queue.append(related)
    return False


def student_lookup(model: type[models.Model], entry: Entry) -> str | None:
    """The lookup that finds one student's rows, given the student's id: through the nearest exam
    session, else through a foreign key to the user that goes with the user (the owner, not an actor),
    else as the inventory declares (for a model without relations)."""
    user = get_user_model()
    if model is user:
        return "pk"
    if model is ExamSession:
        return "student"
    queue: deque[tuple[type[models.Model], str]] = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        for field in _forward(current):
            related = field.related_model
            assert isinstance(related, type)
            if related is ExamSession:
                return f"{path}{field.name}__student"
            if related not in seen and related is not user:
                seen.add(related)
                queue.append((related, f"{path}{field.name}__"))
    owners = [
        f.name
        for f in _forward(model)
        if f.related_model is user and getattr(f.remote_field, "on_delete", None) is models.CASCADE
    ]
    if owners:
        return owners[0]
    return entry.student_lookup or None


def rows_of(model: type[models.Model], entry: Entry, student: Any) -> models.QuerySet[Any]:
    lookup = student_lookup(model, entry)
    assert lookup is not None
    return model._default_manager.filter(**{lookup: student.pk})


# --- Every model is declared, and declared truthfully ------------------------------------------


def test_every_installed_model_is_in_the_inventory_and_nothing_else_is() -> None:
    labels = {model._meta.label for model in apps.get_models()}
    assert labels - set(BY_MODEL) == set(), "declare these models in privacy/inventory.py"
    assert set(BY_MODEL) - labels == set(), "these inventory entries name no model"
    assert len(BY_MODEL) == len(EVERYTHING), "a model is declared twice"
    # Invigil's own models are in INVENTORY, the libraries' in LIBRARIES: the export and purge tests
    # below hold INVENTORY to what it says.
    assert {entry.model for entry in INVENTORY} == {model._meta.label for model in project_models()}


def test_a_model_that_leads_to_a_person_or_says_it_holds_personal_data_is_declared_personal() -> None:
    undeclared = [
        model._meta.label
        for model in apps.get_models()
        if (leads_to_a_person(model) or "Personal data:" in (model.__doc__ or ""))
        and not entry_for(model._meta.label).personal
    ]
    assert undeclared == []


def test_the_derivation_finds_what_a_person_is() -> None:
    """The walk above is what the other tests rest on: it must see through chains of relations."""
    assert leads_to_a_person(apps.get_model("analysis.AnalysisSegment"))  # segment -> recording -> session
    assert leads_to_a_person(apps.get_model("review.FlagDecision"))  # decision -> flag -> session
    assert not leads_to_a_person(apps.get_model("exams.Choice"))  # choice -> question -> exam -> course
    segment = apps.get_model("analysis.AnalysisSegment")
    assert student_lookup(segment, entry_for("analysis.AnalysisSegment")) == "recording__session__student"
    # The owner, not the person who answered it.
    request = apps.get_model("exams.AlternativeRequest")
    assert student_lookup(request, entry_for("exams.AlternativeRequest")) == "session__student"
    check = apps.get_model("identity.IdentityCheck")
    assert student_lookup(check, entry_for("identity.IdentityCheck")) == "user"


def test_each_personal_entry_says_what_it_holds_and_why_it_is_or_is_not_exported() -> None:
    for entry in EVERYTHING:
        if entry.personal:
            assert entry.holds.strip(), entry.model
            assert entry.export.strip(), f"{entry.model}: say what the export gives of it, or why not"
        else:
            assert not entry.in_export, entry.model
            assert not entry.holds, entry.model


def _cascades_to(model: type[models.Model], target: type[models.Model]) -> bool:
    """A chain of foreign keys, each deleting on cascade, leads from the model to ``target``."""
    queue, seen = deque([model]), {model}
    while queue:
        current = queue.popleft()
        for field in _forward(current):
            if getattr(field.remote_field, "on_delete", None) is not models.CASCADE:
                continue
            related = field.related_model
            assert isinstance(related, type)
            if related is target:
                return True
            if related not in seen:
                seen.add(related)
                queue.append(related)
    return False


def test_what_goes_with_the_account_the_session_or_the_exam_is_deleted_with_it_by_its_foreign_keys() -> None:
    owner = {
        Retention.ACCOUNT: get_user_model(),
        Retention.SESSION_RECORD: ExamSession,
        Retention.EXAM: apps.get_model("exams.Exam"),
    }
    wrong = [
        entry.model
        for entry in INVENTORY
        if entry.retention in owner
        and apps.get_model(entry.model) is not owner[entry.retention]
        and not _cascades_to(apps.get_model(entry.model), owner[entry.retention])
    ]
    assert wrong == []


def test_invigils_models_and_the_libraries_are_kept_apart() -> None:
    assert all(entry.retention is not Retention.LIBRARY for entry in INVENTORY)
    assert all(entry.retention in (Retention.LIBRARY, Retention.NOT_PERSONAL) for entry in LIBRARIES)


def test_fields_the_purge_clears_exist_and_can_be_empty() -> None:
    for entry in EVERYTHING:
        assert bool(entry.purge_clears) == (entry.retention is Retention.PURGE_CLEARS), entry.model
        model = apps.get_model(entry.model)
        for name in entry.purge_clears:
            assert model._meta.get_field(name).null, f"{entry.model}.{name} cannot be cleared"


def test_a_missing_model_is_named_when_looked_up() -> None:
    with pytest.raises(KeyError, match="exams.Nothing is not in the data inventory"):
        entry_for("exams.Nothing")


# --- A full student ---------------------------------------------------------------------------


@dataclass
class Full:
    world: World
    student: Any


def full_student(recorded: World) -> Full:
    """A student with a row in every model that can hold their data: the recorded, analysed and
    reviewed session of tests/privacy/conftest.py, and everything else around it."""
    world, student, session = recorded, recorded.users["student"], recorded.session
    # Face matching agreed, enrolled, matched, and a photo ID kept.
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg("obama.jpg")] * 3)
    identity_verify(user=student, frame=jpeg("obama2.jpg"), reference=str(session.pk))
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    policy = ConsentPolicyFactory(institution=world.course.institution, version=7)
    ConsentRecord.objects.create(session=session, policy=policy, policy_version=7, decision=ConsentDecision.CONSENTED)
    ExamBreak.objects.create(
        session=session,
        started_at=BREAK_AT,
        ended_at=BREAK_AT + timedelta(minutes=5),
        allowed_seconds=600,
        deadline_before=BREAK_AT + timedelta(hours=1),
    )
    question = Question.objects.create(exam=world.exam, kind="short_answer", prompt="What is entropy?")
    session.answers.create(question=question, text=ANSWER)
    Mark.objects.create(
        session=session,
        question=question,
        points=1,
        automatic=False,
        marked_by=world.users["instructor"],
        marked_at=timezone.now(),
        comment=MARK_COMMENT,
    )
    Accommodation.objects.create(exam=world.exam, student=student, note=ACCOMMODATION_NOTE)
    AlternativeRequest.objects.create(
        session=session,
        reason=ALTERNATIVE_REASON,
        status=RequestStatus.ANSWERED,
        response=ALTERNATIVE_RESPONSE,
        answered_by=world.users["instructor"],
        answered_at=timezone.now(),
    )
    recording = Recording.objects.get(session=session)
    RecordingGap.objects.create(recording=recording, first_missing_seq=40, last_missing_seq=41)
    AnalysisRun.objects.filter(session=session).update(score=SCORE)
    SessionDecision.objects.create(
        session=session,
        note=DECISION_NOTE,
        reviewer=world.users["reviewer"],
        reviewer_name="Remi Reviewer",
        outcome="no_concern",
        from_status=S.APPEALED,
        to_status=S.CLEARED,
    )
    Appeal.objects.create(session=session, grounds=APPEAL_GROUNDS, lodged_by=student)
    admin = world.users["admin"]
    LegalHold.objects.create(
        session=session,
        reason=HOLD_REASON,
        set_by=admin,
        lifted_by=admin,
        lifted_at=timezone.now(),
        lift_reason="Case closed",
    )
    # Launched from an LMS once.
    platform = Platform.objects.create(
        name="Moodle",
        institution=world.course.institution,
        issuer="https://lms.example.edu",
        client_id="invigil",
        auth_login_url="https://lms.example.edu/auth",
        auth_token_url="https://lms.example.edu/token",
        keyset_url="https://lms.example.edu/jwks",
    )
    LtiIdentity.objects.create(platform=platform, sub="lms-user-42", user=student, last_launch_at=timezone.now())
    # Its session an attempt at an assessment of the LMS, which staff flagged there.
    attempt = ProctoringAttempt.objects.create(
        session=session,
        platform=platform,
        deployment_id="1",
        resource_link_id="quiz-7",
        sub="lms-user-42",
        attempt_number=1,
        session_data="opaque",
        start_assessment_url="https://lms.example.edu/start",
    )
    ControlRequest.objects.create(
        attempt=attempt,
        action=ControlAction.FLAG,
        reason="Confirmed by a reviewer",
        incident_time=timezone.now(),
        requested_by=world.users["instructor"],
        outcome=ControlOutcome.ACCEPTED,
    )
    # Cleared on appeal: reviewed, and nothing keeps the recordings past their retention.
    ExamSession.objects.filter(pk=session.pk).update(status=S.CLEARED)
    # A sign-in, and someone trying the student's username with a wrong password.
    Client().force_login(student)
    failed = Client().post(reverse("login"), {"username": student.username, "password": "not the password"})
    assert failed.status_code == 200  # the form again, with its error
    student.refresh_from_db()
    return Full(world=world, student=student)


@dataclass
class Export:
    document: dict[str, Any]
    files: dict[str, bytes]

    @property
    def session(self) -> dict[str, Any]:
        (session,) = self.document["sessions"]
        return session

    @property
    def flag(self) -> dict[str, Any]:
        (flag,) = self.session["review"]["flags"]
        return flag


def exported(student: Any) -> Export:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(my_data_export(my_data(student)))))
    files = {name: archive.read(name) for name in archive.namelist()}
    return Export(document=json.loads(files["data.json"]), files=files)


def _recording_file(export: Export) -> bytes:
    (recording,) = export.session["recordings"]
    return export.files[recording["file"]]


#: How each model declared in the export is found in it: a distinctive value of its rows.
FOUND_IN_EXPORT: dict[str, Callable[[Export, Full], bool]] = {
    "proctor.AuditEvent": lambda e, f: (
        [event["what"] for event in e.document["sign_in_events"]]
        == ["Signed in", "Someone tried to sign in under your username with a wrong password"]
        and any(
            (action["action"], action["what"]) == ("identity.enrol", "Enrolled a face")
            for action in e.document["your_actions"]
        )
    ),
    "identity.User": lambda e, f: (
        e.document["student"]["username"] == f.student.username
        and e.document["student"]["email"] == f.student.email
        and e.document["student"]["last_signed_in_at"] is not None
    ),
    "identity.IdentityProfile": lambda e, f: (
        len(e.document["identity_profile"]["face_template"]["values"]) == 128
        and e.files["identity/id-photo.jpg"] == jpeg("obama2.jpg")
    ),
    "identity.BiometricConsent": lambda e, f: (
        [a["decision"] for a in e.document["face_matching_answers"]] == ["Agreed to face matching"]
    ),
    "identity.IdentityCheck": lambda e, f: (
        [c["exam_session"] for c in e.document["identity_profile"]["face_checks"]] == [str(f.world.session.pk)]
    ),
    "exams.CourseMembership": lambda e, f: (
        [(c["course"], c["role"]) for c in e.document["courses"]] == [("PHYS101", "Student")]
    ),
    "exams.ExamSession": lambda e, f: e.session["id"] == str(f.world.session.pk) and e.session["exam"] == "Midterm",
    "exams.SessionTransition": lambda e, f: (
        [c["to"] for c in e.session["status_history"]] == ["Consent given", "Checks passed", "In progress", "Submitted"]
    ),
    "exams.Answer": lambda e, f: [a["text"] for a in e.session["answers"]] == [ANSWER],
    "exams.Mark": lambda e, f: (
        [(m["points"], m["marked"], m["comment"]) for m in e.session["marks"]]
        == [("1.00", "by a person", MARK_COMMENT)]
    ),
    "exams.Accommodation": lambda e, f: [a["note"] for a in e.document["accommodations"]] == [ACCOMMODATION_NOTE],
    "exams.ConsentRecord": lambda e, f: [c["version"] for c in e.session["consents"]] == [7],
    "exams.ExamBreak": lambda e, f: [b["started_at"][:16] for b in e.session["breaks"]] == ["2026-03-02T09:10"],
    "exams.AlternativeRequest": lambda e, f: (
        e.session["alternative_arrangement_request"]["reason"] == ALTERNATIVE_REASON
        and e.session["alternative_arrangement_request"]["response"] == ALTERNATIVE_RESPONSE
    ),
    "recordings.Recording": lambda e, f: _recording_file(e) == webcam_webm(),
    "recordings.RecordingChunk": lambda e, f: (
        len(_recording_file(e))
        == sum(RecordingChunk.objects.filter(recording__session=f.world.session).values_list("size", flat=True))
    ),
    "recordings.RecordingGap": lambda e, f: e.session["recordings"][0]["missing_chunks"][0]["from"] == 40,
    "recordings.BrowserSignal": lambda e, f: [s["kind"] for s in e.session["browser_signals"]] == ["Exam tab hidden"],
    "analysis.AnalysisRun": lambda e, f: e.session["review"]["analysis_score"]["score"] == SCORE,
    "analysis.Flag": lambda e, f: (
        e.flag["reason"] == "The exam tab was hidden." and e.files[e.flag["evidence_picture"]] == b"\xff\xd8picture"
    ),
    "analysis.AnalysisSegment": lambda e, f: (
        [stretch["evidence"][0]["kind"] for stretch in e.session["review"]["analysed_stretches"]] == ["no_face"]
    ),
    "review.FlagDecision": lambda e, f: e.flag["reviewer_verdict"] == "Dismissed" and e.flag["reviewer_note"] == "fine",
    "review.SessionDecision": lambda e, f: [d["note"] for d in e.session["review"]["decisions"]] == [DECISION_NOTE],
    "review.Appeal": lambda e, f: (
        e.session["appeal"]["grounds"] == APPEAL_GROUNDS and e.session["appeal"]["outcome"] == "No concern"
    ),
    "privacy.LegalHold": lambda e, f: (
        len(e.session["legal_holds"]) == 1 and e.session["legal_holds"][0]["lifted_at"] is not None
    ),
}


def test_every_model_declared_in_the_export_is_found_in_a_full_students_export(recorded: World) -> None:
    declared = {entry.model for entry in INVENTORY if entry.in_export}
    assert set(FOUND_IN_EXPORT) == declared, "say here how each exported model is found in the export"
    full = full_student(recorded)
    export = exported(full.student)
    missing = []
    for label in sorted(declared):
        try:
            found = FOUND_IN_EXPORT[label](export, full)
        except (KeyError, IndexError, TypeError, ValueError):
            found = False
        if not found:
            missing.append(label)
    assert missing == [], "declared in the export but not found in it"
    assert export.document["problems"] == []
    # What the export keeps back, it keeps back.
    assert HOLD_REASON not in export.files["data.json"].decode()
    assert "password" not in json.dumps(export.document["student"])


def test_the_purge_removes_what_the_inventory_says_it_removes_and_keeps_the_rest(recorded: World) -> None:
    full = full_student(recorded)
    student = full.student
    personal = [
        (apps.get_model(entry.model), entry)
        for entry in INVENTORY
        if entry.personal and student_lookup(apps.get_model(entry.model), entry) is not None
    ]
    before = {entry.model: rows_of(model, entry, student).count() for model, entry in personal}
    # Otherwise this test (and the export's) would pass on a model that simply had nothing to show.
    assert [label for label, count in before.items() if not count] == [], "add rows of these to full_student()"

    report = purge_due(now=timezone.now() + 400 * DAY)
    assert (report.recordings, report.profiles) == (1, 1)

    wrong = []
    for model, entry in personal:
        rows = rows_of(model, entry, student)
        if entry.retention is Retention.PURGE:
            if rows.exists():
                wrong.append(f"{entry.model}: declared purged, still there")
        elif entry.retention is Retention.PURGE_CLEARS:
            if rows.count() != before[entry.model]:
                wrong.append(f"{entry.model}: declared cleared, but rows went")
            for name in entry.purge_clears:
                if rows.exclude(**{f"{name}__isnull": True}).exists():
                    wrong.append(f"{entry.model}.{name}: declared cleared, still set")
        elif entry.retention is Retention.AUDIT_LOG:
            # Append-only: the purge adds its own entries about the student, and removes none.
            if rows.count() < before[entry.model]:
                wrong.append(f"{entry.model}: declared kept (audit log), but rows went")
        elif rows.count() != before[entry.model]:
            wrong.append(f"{entry.model}: declared kept ({entry.retention}), but the purge changed it")
    assert wrong == []


# --- Where people read it ----------------------------------------------------------------------


def test_the_docs_page_is_the_inventory_as_printed() -> None:
    docs = Path(settings.BASE_DIR) / "docs" / "data-inventory.md"
    assert docs.read_text() == inventory_markdown(), (
        "docs/data-inventory.md is out of date: python manage.py data_inventory --markdown > docs/data-inventory.md"
    )


def test_the_command_prints_every_model_with_its_retention_and_export() -> None:
    out = io.StringIO()
    call_command("data_inventory", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["Model", "Retention", "Export"]
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in lines[2:])}
    assert set(rows) == set(BY_MODEL)
    assert rows["analysis.Flag"][:2] == ["purge clears", "yes"]
    assert rows["exams.Exam"][:2] == ["course record", "no"]
    assert rows["exams.Question"] == ["no personal data", "-", "None: An exam's questions."]
    markdown = io.StringIO()
    call_command("data_inventory", "--markdown", stdout=markdown)
    assert markdown.getvalue() == inventory_markdown()


@pytest.mark.parametrize("role", ["student", "instructor", "reviewer", "outsider"])
def test_only_admins_see_the_inventory_page(world: World, role: str) -> None:
    assert client_as(world, role).get(INVENTORY_PAGE).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(world: World) -> None:
    response = client_as(world, "anonymous").get(INVENTORY_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_admin_sees_each_model_with_what_it_holds_and_whether_it_is_exported(world: World) -> None:
    response = client_as(world, "admin").get(INVENTORY_PAGE)
    assert response.status_code == 200
    text = response.content.decode()
    for entry in EVERYTHING:
        assert f"<code>{entry.model}</code>" in text
    flag = text[text.index('id="model-analysis.Flag"') :]
    flag = flag[: flag.index("</tr>")]
    assert "purge clears" in flag
    assert "evidence_thumbnail, evidence_recording, evidence_seconds" in flag
    assert "Yes: Each flag and its evidence picture" in flag
    assert client_as(world, "admin").post(INVENTORY_PAGE).status_code == 405
