"""What the student's copy gives besides recordings and the profile: evidence pictures once a person has
reviewed the session, the analysis score under the same rule, sign-in events that are theirs alone,
the status history in their words, and a picture that cannot be read named rather than breaking the copy.
(tests/privacy/test_inventory.py checks that every model declared in the export is found in it.)"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from django.test import Client
from django.urls import reverse

from analysis.models import AnalysisRun, Flag
from exams.models import ExamSession
from exams.models import SessionStatus as S
from privacy.export import my_data_export
from privacy.selectors import my_data
from proctor.models import AuditEvent
from tests.conftest import World, client_as

DOWNLOAD = reverse("my_data_download")


def copy_of(student: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(my_data_export(my_data(student)))))
    files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files["data.json"]), files


def reviewed(world: World) -> None:
    ExamSession.objects.filter(pk=world.session.pk).update(status=S.CLEARED)


def test_evidence_pictures_and_the_score_come_only_once_a_person_has_reviewed_the_session(recorded: World) -> None:
    student = recorded.users["student"]
    AnalysisRun.objects.filter(session=recorded.session).update(score=3.5, score_breakdown={"tab_hidden": 3.5})
    ExamSession.objects.filter(pk=recorded.session.pk).update(status=S.READY_FOR_REVIEW)
    document, files = copy_of(student)
    assert not [name for name in files if name.startswith("evidence/")]
    assert document["sessions"][0]["review"]["reviewed"] is False
    assert "analysis_score" not in document["sessions"][0]["review"]

    reviewed(recorded)
    document, files = copy_of(student)
    review = document["sessions"][0]["review"]
    assert review["analysis_score"]["score"] == 3.5
    assert review["analysis_score"]["breakdown"] == {"tab_hidden": 3.5}
    (flag,) = review["flags"]
    assert flag["evidence_picture"].startswith("evidence/midterm-")
    assert files[flag["evidence_picture"]] == b"\xff\xd8picture"  # decrypted, as the reviewer saw it
    assert document["problems"] == []


def test_the_export_audit_entry_names_the_evidence_pictures_it_decrypted(recorded: World) -> None:
    reviewed(recorded)
    student = recorded.users["student"]
    copy_of(student)
    flag = Flag.objects.get(session=recorded.session)
    event = AuditEvent.objects.get(action="privacy.export", actor_id=student.pk)
    assert event.detail["evidence_pictures"] == [flag.pk]


def test_a_picture_that_cannot_be_decrypted_is_named_and_the_rest_of_the_copy_is_whole(recorded: World) -> None:
    reviewed(recorded)
    Flag.objects.filter(session=recorded.session).update(evidence_thumbnail=b"not a sealed picture")
    document, files = copy_of(recorded.users["student"])
    (flag,) = document["sessions"][0]["review"]["flags"]
    assert flag["evidence_picture"] is None
    assert not [name for name in files if name.startswith("evidence/")]
    (problem,) = document["problems"]
    assert problem.startswith("evidence/midterm-")
    assert "could not be read" in problem
    assert [name for name in files if name.startswith("recordings/")]


def test_sign_in_events_are_the_students_own_and_a_failed_attempts_address_is_not_given(world: World) -> None:
    student, other = world.users["student"], world.users["other_student"]
    for user in (student, other):
        user.set_password("a good long passphrase")
        user.save()
    Client(REMOTE_ADDR="198.51.100.7").post(reverse("login"), {"username": "student", "password": "wrong"})
    Client(REMOTE_ADDR="198.51.100.7").post(reverse("login"), {"username": "other_student", "password": "wrong"})
    signed_in = Client(REMOTE_ADDR="192.0.2.10")
    response = signed_in.post(reverse("login"), {"username": "student", "password": "a good long passphrase"})
    assert response.status_code == 302
    signed_in.post(reverse("logout"))
    other_client = Client(REMOTE_ADDR="192.0.2.99")
    other_client.post(reverse("login"), {"username": "other_student", "password": "a good long passphrase"})

    document, _ = copy_of(student)
    events = [(event["what"], event["from_address"]) for event in document["sign_in_events"]]
    assert events == [
        ("Someone tried to sign in under your username with a wrong password", None),
        ("Signed in", "192.0.2.10"),
        ("Signed out", "192.0.2.10"),
    ]
    assert "192.0.2.99" not in json.dumps(document)
    assert "198.51.100.7" not in json.dumps(document)


def test_the_status_history_says_who_moved_the_session_in_the_students_words(recorded: World) -> None:
    student = recorded.users["student"]
    history = copy_of(student)[0]["sessions"][0]["status_history"]
    assert [(change["to"], change["by"]) for change in history] == [
        ("Consent given", "Invigil (automated)"),
        ("Checks passed", "Invigil (automated)"),
        ("In progress", "Invigil (automated)"),
        ("Submitted", "Invigil (automated)"),
    ]


def test_the_download_gives_the_new_contents_through_the_page_too(recorded: World) -> None:
    reviewed(recorded)
    response = client_as(recorded, "student").post(DOWNLOAD)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert any(name.startswith("evidence/") for name in archive.namelist())
    readme = archive.read("README.txt").decode()
    assert "evidence/" in readme
    assert "sign-ins" in readme
