"""The instructor's Safe Exam Browser page: uploading the exam's .seb file shows its Config Key,
Browser Exam Keys are checked one by one, and anything that cannot be used is refused by field with
nothing changed. Every change is audited; students download the file the instructor uploaded."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lockdown.config_key import MAX_SEB_BYTES, config_key, seb_settings
from lockdown.models import SafeExamBrowserRequirement
from proctor.models import AuditEvent
from tests.conftest import World, client_as
from tests.lockdown.conftest import BEK, FIXTURES, MAC_FILE, MAC_KEY, WIN_KEY

pytestmark = pytest.mark.django_db


def settings_url(world: World) -> str:
    return reverse("lockdown_settings", args=[world.exam.pk])


def post(world: World, *, role: str = "instructor", **fields: Any) -> Any:
    data = {"browser_exam_keys": "", **fields}
    return client_as(world, role).post(settings_url(world), data)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/seb")


def state(world: World) -> Any:
    return list(
        SafeExamBrowserRequirement.objects.filter(exam=world.exam).values_list(
            "required", "config_file_name", "config_key", "browser_exam_keys"
        )
    )


def test_the_setup_page_links_to_the_safe_exam_browser_page(world: World) -> None:
    page = client_as(world, "instructor").get(reverse("exam_setup", args=[world.exam.pk])).content.decode()
    assert settings_url(world) in page


def test_uploading_a_real_file_shows_its_published_config_key_and_is_audited(world: World) -> None:
    response = post(world, required="on", config_file=upload("midterm.seb", MAC_FILE))
    assert response.status_code == 302
    assert state(world) == [(True, "midterm.seb", MAC_KEY, [])]
    page = client_as(world, "instructor").get(settings_url(world)).content.decode()
    assert MAC_KEY in page
    event = AuditEvent.objects.get(action="lockdown.set")
    assert event.actor_id == world.users["instructor"].pk
    assert event.detail["after"]["config_key"] == MAC_KEY


def test_a_new_file_replaces_the_old_and_the_student_downloads_it_as_uploaded(world: World) -> None:
    post(world, required="on", config_file=upload("first.seb", MAC_FILE))
    win = (FIXTURES / "unencrypted_win_223.seb").read_bytes()
    compressed = gzip.compress(b"plnd" + gzip.compress(win))
    post(world, required="on", config_file=upload("second.seb", compressed))
    assert state(world) == [(True, "second.seb", WIN_KEY, [])]
    response = client_as(world, "student").get(reverse("lockdown_config_download", args=[world.exam.pk]))
    assert response.status_code == 200
    assert response.content == compressed
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"config_file": upload("x.seb", b"not a plist")}, "config_file", "not a Safe Exam", id="garbage"),
        pytest.param(
            {"config_file": upload("x.seb", (FIXTURES / "encrypted.seb").read_bytes())},
            "config_file",
            "protected by a password",
            id="password-protected, no password",
        ),
        pytest.param(
            {"config_file": upload("x.seb", (FIXTURES / "encrypted.seb").read_bytes()), "config_password": "nope"},
            "config_file",
            "not the one this file was saved with",
            id="password-protected, wrong password",
        ),
        pytest.param(
            {"config_file": upload("x.seb", b"<" + b" " * MAX_SEB_BYTES)}, "config_file", "larger than", id="too large"
        ),
        pytest.param({"browser_exam_keys": "abc123"}, "browser_exam_keys", "64 hexadecimal", id="a short key"),
        pytest.param({"browser_exam_keys": "g" * 64}, "browser_exam_keys", "64 hexadecimal", id="not hexadecimal"),
        pytest.param({"remove_config": "on"}, "required", "no student could", id="no key left"),
    ],
)
def test_what_cannot_be_used_is_refused_by_field_and_nothing_changes(
    world: World, fields: dict[str, Any], field: str, message: str
) -> None:
    post(world, required="on", config_file=upload("midterm.seb", MAC_FILE), browser_exam_keys=BEK)
    before, events = state(world), AuditEvent.objects.exclude(action="auth.login").count()
    response = post(world, required="on", **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Nothing was changed" in response.content.decode()
    assert state(world) == before
    assert AuditEvent.objects.exclude(action="auth.login").count() == events


def test_a_password_protected_file_is_read_with_the_password_given_and_the_password_not_kept(world: World) -> None:
    encrypted = (FIXTURES / "encrypted.seb").read_bytes()
    unprotected_key = config_key(seb_settings((FIXTURES / "unencrypted.seb").read_bytes()))
    response = post(world, required="on", config_file=upload("exam.seb", encrypted), config_password="test")
    assert response.status_code == 302
    requirement = SafeExamBrowserRequirement.objects.get(exam=world.exam)
    assert requirement.config_key == unprotected_key
    assert bytes(requirement.config_file) == encrypted
    assert "test" not in str(AuditEvent.objects.get(action="lockdown.set").detail)


def test_browser_exam_keys_are_kept_once_in_lower_case(world: World) -> None:
    response = post(world, required="on", browser_exam_keys=f"{BEK.upper()}\n{BEK}, {'ab' * 32}")
    assert response.status_code == 302
    assert state(world) == [(True, "", "", [BEK, "ab" * 32])]


def test_removing_the_file_keeps_the_browser_exam_keys(world: World) -> None:
    post(world, required="on", config_file=upload("midterm.seb", MAC_FILE), browser_exam_keys=BEK)
    post(world, required="on", remove_config="on", browser_exam_keys=BEK)
    assert state(world) == [(True, "", "", [BEK])]
    response = client_as(world, "student").get(reverse("lockdown_config_download", args=[world.exam.pk]))
    assert response.status_code == 404


def test_saving_the_same_settings_again_adds_no_audit_entry(world: World) -> None:
    post(world, required="on", browser_exam_keys=BEK)
    post(world, required="on", browser_exam_keys=BEK)
    assert AuditEvent.objects.filter(action="lockdown.set").count() == 1
