"""Refusals share one exception hierarchy (proctor/errors.py) and become responses in one place
(proctor/refusals.py): the API's exception handler and a middleware for every other view."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.urls import reverse

from exams.lifecycle import TransitionError
from exams.services import AlternativeAnswerRefused, ConsentNeeded, ExamUnavailable, NoticeRefused, PublishRefused
from identity.consent import BiometricConsentRequired
from identity.services import FaceRefused, ManualCheckError
from lockdown.services import NotSafeExamBrowser, RequirementRefused
from privacy.services import HoldError, ProfileDeleteRefused
from proctor.errors import Conflict, Invalid, NotAllowed, NotFound, Refusal, Unprocessable
from proctor.refusals import RefusalMiddleware
from recordings.services import ChunkRefused
from review.access import PurposeError
from review.services import DecisionError
from tests.conftest import World, client_as


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (TransitionError("x"), 409),
        (ExamUnavailable("x"), 409),
        (ConsentNeeded("x", session_id="s"), 409),
        (PublishRefused("x"), 409),
        (AlternativeAnswerRefused("x"), 400),
        (NoticeRefused({"__all__": "x"}), 400),
        (FaceRefused("x"), 422),
        (ManualCheckError("x"), 422),
        (BiometricConsentRequired("x"), 409),
        (HoldError("x"), 409),
        (ProfileDeleteRefused("x"), 409),
        (DecisionError("x"), 400),
        (PurposeError({"purpose": "x"}), 400),
        (ChunkRefused("closed", "x"), 409),
        (RequirementRefused({"config_file": "x"}), 400),
        (NotSafeExamBrowser("x"), 403),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_refusal_of_the_apps_is_a_refusal_with_its_status(refusal: Refusal, status: int) -> None:
    assert isinstance(refusal, Refusal)
    assert refusal.status_code == status


@pytest.mark.parametrize(
    ("kind", "status"), [(Invalid, 400), (NotAllowed, 403), (NotFound, 404), (Conflict, 409), (Unprocessable, 422)]
)
def test_a_refusal_no_view_caught_is_a_page_for_a_person(world: World, kind: type[Refusal], status: int) -> None:
    request = RequestFactory().post("/exams/1/something/")
    request.user = world.users["student"]
    response = RefusalMiddleware(lambda request: None).process_exception(request, kind("Not now, because."))  # type: ignore[arg-type]
    assert response is not None
    assert response.status_code == status
    assert '<p role="alert">Not now, because.</p>' in response.content.decode()


def test_a_refusal_no_view_caught_is_json_for_a_script(world: World) -> None:
    request = RequestFactory().post("/api/identity/verify/")
    request.user = world.users["student"]
    response = RefusalMiddleware(lambda request: None).process_exception(request, FaceRefused("No face was found."))  # type: ignore[arg-type]
    assert response is not None
    assert (response.status_code, json.loads(response.content)) == (422, {"detail": "No face was found."})


def test_other_errors_are_left_to_django(world: World) -> None:
    request = RequestFactory().get("/")
    assert RefusalMiddleware(lambda request: None).process_exception(request, ValueError("bug")) is None  # type: ignore[arg-type]


def test_an_api_refusal_answers_with_its_status_and_message_and_changes_nothing(world: World) -> None:
    """Submitting an attempt that never started."""
    response = client_as(world, "student").post(
        reverse("api_session_submit", args=[world.session.pk]), content_type="application/json"
    )
    assert response.status_code == 409
    assert list(response.json()) == ["detail"]
    assert "not started" in response.json()["detail"].lower()
    world.session.refresh_from_db()
    assert world.session.status == "created"


def test_signing_in_first_is_asked_for_as_json(world: World) -> None:
    response = client_as(world, "anonymous").get(reverse("api_identity_status"))
    assert (response.status_code, response.json()) == (403, {"detail": "Sign in first."})
