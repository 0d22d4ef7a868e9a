"""Autosave and the identity uploads are rate-limited per user: past the rate, 429 with a plain
message, nothing saved or checked, and other users unaffected."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from exams.models import Answer, SessionStatus
from exams.services import session_transition
from tests.conftest import World, client_as
from tests.factories import QuestionFactory


@pytest.fixture
def low_rates(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"autosave": "3/minute", "identity_upload": "2/minute"},
    }


def test_autosave_past_its_rate_gets_429_and_saves_nothing(world: World, low_rates: None) -> None:
    question: Any = QuestionFactory(exam=world.exam)
    for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
        session_transition(session_id=world.session.pk, to_status=status, actor=None, reason="test")
    client = client_as(world, "student")
    url = reverse("api_session_answer", args=[world.session.pk])
    for n in range(3):
        saved = client.post(url, {"question": question.pk, "text": f"draft {n}"}, content_type="application/json")
        assert saved.status_code == 200, saved.content

    refused = client.post(url, {"question": question.pk, "text": "draft 3"}, content_type="application/json")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many requests in a short time; your work so far is kept.")
    assert 0 < int(refused["Retry-After"]) <= 60
    assert Answer.objects.get(session=world.session, question=question).text == "draft 2"


def test_the_autosave_rate_is_counted_per_student(world: World, low_rates: None) -> None:
    question: Any = QuestionFactory(exam=world.exam)
    for session in (world.session, world.other_session):
        for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
            session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    student, other = client_as(world, "student"), client_as(world, "other_student")
    for _ in range(3):
        student.post(
            reverse("api_session_answer", args=[world.session.pk]),
            {"question": question.pk, "text": "mine"},
            content_type="application/json",
        )
    theirs = other.post(
        reverse("api_session_answer", args=[world.other_session.pk]),
        {"question": question.pk, "text": "theirs"},
        content_type="application/json",
    )
    assert theirs.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", ["api_identity_enrol", "api_identity_id_photo", "api_identity_verify"])
def test_identity_uploads_past_their_rate_get_429_before_any_work(world: World, low_rates: None, endpoint: str) -> None:
    client = client_as(world, "student")
    url = reverse(endpoint)
    for _ in range(2):
        assert client.post(url, {"reference": "s1"}).status_code in (400, 409, 422)
    refused = client.post(url, {"reference": "s1"})
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 0 < wait <= 60
    assert refused.json() == {
        "detail": f"Too many requests in a short time; your work so far is kept. Try again in {wait} seconds."
    }
    assert client_as(world, "other_student").post(url, {"reference": "s1"}).status_code != 429
