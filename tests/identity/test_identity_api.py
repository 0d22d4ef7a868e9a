"""Enrolment, photo ID, 1:1 face match and the manual-check path, over HTTP with real photographs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from identity.models import IdentityCheck, IdentityProfile
from identity.services import identity_manual_decide
from proctor.attestations import identity_attestation_method
from tests.factories import UserFactory

FACES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "faces"


def jpeg(name: str) -> bytes:
    from PIL import Image

    with Image.open(FACES / name) as image:
        image.thumbnail((640, 640))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue()


def upload(name: str, field: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{field}.jpg", jpeg(name), content_type="image/jpeg")


@pytest.fixture
def student(transactional_db: None) -> Any:
    # Committed: the endpoints do their work on a pool thread with its own database connection.
    return UserFactory(username="barack")


@pytest.fixture
def signed_in(client: Client, student: Any) -> Client:
    client.force_login(student)
    return client


@pytest.fixture
def agreed(signed_in: Client) -> Client:
    response = signed_in.post(
        reverse("api_identity_face_matching"), {"version": 1, "agreed": True}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return signed_in


@pytest.fixture
def enrolled(agreed: Client) -> Client:
    frames = [upload("obama.jpg", "frames") for _ in range(3)]
    response = agreed.post(reverse("api_identity_enrol"), {"frames": frames})
    assert response.status_code == 200, response.content
    return agreed


def test_enrolment_keeps_only_a_sealed_template(enrolled: Client, student: Any) -> None:
    profile = IdentityProfile.objects.get(user=student)
    assert profile.enrolled
    assert len(bytes(profile.template_sealed)) > 128 * 8  # sealed: header, nonce, tag around 1 KiB of floats
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.jpg"))
    status = enrolled.get(reverse("api_identity_status")).json()
    assert (status["enrolled"], status["has_id_photo"], status["face_matching"]["agreed"]) == (True, False, True)


def test_the_photo_id_is_stored_encrypted(enrolled: Client, student: Any) -> None:
    response = enrolled.post(reverse("api_identity_id_photo"), {"photo": upload("obama2.jpg", "photo")})
    assert response.status_code == 200
    stored = Path(settings.MEDIA_ROOT, IdentityProfile.objects.get(user=student).id_photo_name).read_bytes()
    assert b"\xff\xd8\xff" not in stored[:64]
    assert b"JFIF" not in stored


def test_the_same_person_matches_and_gets_an_attestation_for_that_session(enrolled: Client, student: Any) -> None:
    response = enrolled.post(
        reverse("api_identity_verify"), {"reference": "session-1", "frame": upload("obama2.jpg", "frame")}
    )
    body = response.json()
    assert body["matched"] is True
    assert body["distance"] < 0.45
    assert identity_attestation_method(body["attestation"], user_id=student.pk, reference="session-1") == "face_match"
    assert identity_attestation_method(body["attestation"], user_id=student.pk, reference="session-2") is None
    check = IdentityCheck.objects.get()
    assert (check.matched, check.reference, check.model.startswith("face_recognition")) == (True, "session-1", True)


def test_a_different_person_does_not_match_and_gets_no_attestation(enrolled: Client) -> None:
    body = enrolled.post(
        reverse("api_identity_verify"), {"reference": "s", "frame": upload("biden.jpg", "frame")}
    ).json()
    assert body["matched"] is False
    assert body["attestation"] is None
    assert "did not match" in body["detail"]
    assert IdentityCheck.objects.get().matched is False


@pytest.mark.parametrize(("photo", "message"), [("two_people.jpg", "More than one face")])
def test_a_problem_picture_gets_a_clear_reason(enrolled: Client, photo: str, message: str) -> None:
    response = enrolled.post(reverse("api_identity_verify"), {"reference": "s", "frame": upload(photo, "frame")})
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_bytes_that_are_not_a_picture_store_nothing(agreed: Client, student: Any) -> None:
    junk = [SimpleUploadedFile("frames.jpg", b"not a picture", content_type="image/jpeg") for _ in range(3)]
    response = agreed.post(reverse("api_identity_enrol"), {"frames": junk})
    assert response.status_code == 422
    assert "could not be read" in response.json()["detail"]
    assert not IdentityProfile.objects.filter(user=student, template_sealed__isnull=False).exists()


def test_verifying_before_enrolling_says_so(agreed: Client) -> None:
    response = agreed.post(reverse("api_identity_verify"), {"reference": "s", "frame": upload("obama.jpg", "frame")})
    assert response.status_code == 422
    assert response.json()["detail"] == "Enrol your face first."


def test_a_manual_check_needs_a_photo_id_and_then_can_always_be_requested(signed_in: Client, student: Any) -> None:
    refused = signed_in.post(
        reverse("api_identity_manual"), {"reference": "session-9"}, content_type="application/json"
    )
    assert refused.status_code == 422
    assert "photo ID first" in refused.json()["detail"]
    assert not IdentityCheck.objects.exists()

    assert signed_in.post(reverse("api_identity_id_photo"), {"photo": upload("obama2.jpg", "photo")}).status_code == 200
    body = signed_in.post(
        reverse("api_identity_manual"), {"reference": "session-9"}, content_type="application/json"
    ).json()
    # Waiting for a person: nothing that would let the student start.
    assert (body["decision"], body["attestation"]) == ("pending", None)
    check = IdentityCheck.objects.get()
    assert (check.kind, check.decision) == ("manual_request", "pending")
    # Asking again for the same session does not queue it twice.
    signed_in.post(reverse("api_identity_manual"), {"reference": "session-9"}, content_type="application/json")
    assert IdentityCheck.objects.count() == 1


def test_the_waiting_page_sees_a_persons_decision_and_only_a_confirmation_lets_it_start(
    signed_in: Client, student: Any
) -> None:
    poll = f"{reverse('api_identity_manual')}?reference=session-9"
    assert signed_in.get(poll).json() == {"decision": None, "decision_label": "", "reason": "", "attestation": None}
    signed_in.post(reverse("api_identity_id_photo"), {"photo": upload("obama2.jpg", "photo")})
    signed_in.post(reverse("api_identity_manual"), {"reference": "session-9"}, content_type="application/json")
    assert signed_in.get(poll).json()["decision"] == "pending"

    identity_manual_decide(
        check_id=IdentityCheck.objects.get().pk, actor=UserFactory(), confirmed=True, reason="Card matches."
    )
    body = signed_in.get(poll).json()
    assert (body["decision"], body["reason"]) == ("confirmed", "Card matches.")
    assert identity_attestation_method(body["attestation"], user_id=student.pk, reference="session-9") == (
        "manual_confirmed"
    )
    # Another session's page learns nothing from this one's check, nor does another student asking about it.
    assert signed_in.get(f"{reverse('api_identity_manual')}?reference=session-10").json()["decision"] is None
    signed_in.force_login(UserFactory(username="michelle"))
    assert signed_in.get(poll).json() == {"decision": None, "decision_label": "", "reason": "", "attestation": None}
    assert signed_in.get(reverse("api_identity_manual")).status_code == 400


@pytest.mark.parametrize(
    "name",
    [
        "api_identity_status",
        "api_identity_face_matching",
        "api_identity_enrol",
        "api_identity_id_photo",
        "api_identity_verify",
        "api_identity_manual",
    ],
)
def test_signed_out_callers_are_refused(client: Client, db: None, name: str) -> None:
    response = client.post(reverse(name)) if name != "api_identity_status" else client.get(reverse(name))
    assert response.status_code == 403


def test_signed_out_callers_cannot_ask_where_a_manual_check_stands(client: Client, db: None) -> None:
    assert client.get(f"{reverse('api_identity_manual')}?reference=session-9").status_code == 403


def test_one_student_cannot_use_another_students_attestation(enrolled: Client, student: Any) -> None:
    body = enrolled.post(
        reverse("api_identity_verify"), {"reference": "s", "frame": upload("obama2.jpg", "frame")}
    ).json()
    other = UserFactory(username="someone-else")
    assert identity_attestation_method(body["attestation"], user_id=other.pk, reference="s") is None


def test_an_enrolled_face_cannot_be_replaced_by_someone_else(enrolled: Client, student: Any) -> None:
    before = bytes(IdentityProfile.objects.get(user=student).template_sealed)
    frames = [upload("biden.jpg", "frames") for _ in range(3)]
    response = enrolled.post(reverse("api_identity_enrol"), {"frames": frames})
    assert response.status_code == 422
    assert "already enrolled" in response.json()["detail"]
    assert bytes(IdentityProfile.objects.get(user=student).template_sealed) == before
    body = enrolled.post(
        reverse("api_identity_verify"), {"reference": "s", "frame": upload("biden.jpg", "frame")}
    ).json()
    assert body["matched"] is False


def test_a_stored_photo_id_is_not_replaced(enrolled: Client, student: Any) -> None:
    enrolled.post(reverse("api_identity_id_photo"), {"photo": upload("obama2.jpg", "photo")})
    name = IdentityProfile.objects.get(user=student).id_photo_name
    response = enrolled.post(reverse("api_identity_id_photo"), {"photo": upload("biden.jpg", "photo")})
    assert response.status_code == 422
    assert IdentityProfile.objects.get(user=student).id_photo_name == name


def test_formats_other_than_jpeg_and_png_are_refused(signed_in: Client) -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64)).save(out, "GIF")
    response = signed_in.post(
        reverse("api_identity_id_photo"),
        {"photo": SimpleUploadedFile("photo.gif", out.getvalue(), content_type="image/gif")},
    )
    assert response.status_code == 422
    assert "could not be read" in response.json()["detail"]
