"""Issue 16, item 5: launches from the LMS of tests/lms (lti1p3platform, its own keys) that Invigil must
refuse, each with a clear page, nothing created and the refusal audited: a token altered after the LMS
signed it (the session data), a replayed launch, a wrong audience, an expired token, an unknown deployment
or issuer, a bad signature, a missing claim."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from exams.models import ExamSession
from lti.models import ProctoringAttempt
from tests.conftest import World
from tests.lms.conftest import add_the_cast, rsa_key
from tests.lms.platform import AP, LTI, START_PROCTORING, FakeLms
from tests.lti.conftest import made_from_launches, refusals
from tests.lti.through_the_lms import invigil_key_set, launch, lms_in_invigil, register_invigil

pytestmark = pytest.mark.django_db


@pytest.fixture
def lms(world: World) -> Iterator[FakeLms]:
    with invigil_key_set() as keys, add_the_cast(FakeLms(key=rsa_key(1))) as lms:
        register_invigil(lms, keys)
        lms_in_invigil(lms, world.course)
        yield lms


def start(lms: FakeLms, browser: Client | None = None) -> Any:
    return launch(lms, browser or Client(), START_PROCTORING, user="learner-1", resource_link="quiz-1")


def altered_session_data(token: str) -> str:
    """The LMS's token with its session data changed in transit: its signature no longer covers it."""
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[AP + "session_data"] = "someone-elses-session"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


SPOILED: dict[str, tuple[dict[str, Any], str]] = {
    "a wrong audience": ({"overrides": {"aud": "some-other-tool"}}, "wrong_audience"),
    "an expired token": ({"issued_at": int(time.time()) - 3600, "expires_in": 60}, "expired"),
    "an unknown deployment": ({"overrides": {LTI + "deployment_id": "deployment-9"}}, "unknown_deployment"),
    "an unknown issuer": ({"overrides": {"iss": "https://evil.example"}}, "wrong_issuer"),
    "a bad signature": ({"sign_with": rsa_key(5)}, "bad_signature"),
    "a missing claim": ({"remove": [AP + "session_data"]}, "missing_claim"),
}


@pytest.mark.parametrize("case", SPOILED)
def test_a_spoiled_launch_from_the_lms_is_refused_with_nothing_made(world: World, lms: FakeLms, case: str) -> None:
    spoil, reason = SPOILED[case]
    before, sessions = made_from_launches(), ExamSession.objects.count()
    lms.alter_next_launch(**spoil)
    response = start(lms)
    assert response.status_code in (400, 403)
    assert "Invigil could not open this from your LMS" in response.content.decode()
    assert [event.detail["reason"] for event in refusals()] == [reason]
    assert made_from_launches() == before
    assert ExamSession.objects.count() == sessions
    assert not ProctoringAttempt.objects.exists()


def test_session_data_altered_after_the_lms_signed_it_is_refused(world: World, lms: FakeLms, monkeypatch: Any) -> None:
    import requests

    real_get = requests.get

    def tamper(url: str, **kwargs: Any) -> Any:
        response = real_get(url, **kwargs)
        if "/authorize" in url:
            token = response.text.split('name="id_token" value="', 1)[1].split('"', 1)[0]
            response._content = response.text.replace(token, altered_session_data(token)).encode()
        return response

    monkeypatch.setattr(requests, "get", tamper)
    before = made_from_launches()
    response = start(lms)
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["bad_signature"]
    assert made_from_launches() == before
    assert not ProctoringAttempt.objects.exists()


def test_a_replayed_launch_from_the_lms_is_refused(world: World, lms: FakeLms) -> None:
    browser = Client()
    assert start(lms, browser).status_code == 302
    issued = lms.issued[-1]
    made = made_from_launches()
    sessions = ExamSession.objects.count()
    replay = browser.post("/lti/launch/", {"id_token": issued.id_token, "state": issued.state})
    assert replay.status_code == 400
    # The login's state was used up, and its cookie went with the first launch's answer.
    assert [event.detail["reason"] for event in refusals()] == ["state_not_bound_to_browser"]
    assert made_from_launches() == made
    assert ExamSession.objects.count() == sessions


def test_a_launch_token_replayed_after_a_fresh_login_is_refused(world: World, lms: FakeLms) -> None:
    """Someone who copied the LMS's id_token posts it again with a login of their own: its nonce is not
    the one their login was given."""
    assert start(lms).status_code == 302
    token = lms.issued[-1].id_token
    made, sessions = made_from_launches(), ExamSession.objects.count()
    thief = Client()
    login = urlsplit(lms.login_url(START_PROCTORING, user="learner-1", resource_link="quiz-1"))
    to_lms = thief.get(login.path, dict(parse_qsl(login.query)))
    state = dict(parse_qsl(urlsplit(to_lms["Location"]).query))["state"]
    replay = thief.post("/lti/launch/", {"id_token": token, "state": state})
    assert replay.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["nonce_mismatch"]
    assert made_from_launches() == made
    assert ExamSession.objects.count() == sessions
