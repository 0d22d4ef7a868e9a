"""The harness's own tests: the LMS Invigil did not write signs what it sends with the key it publishes and
refuses what a careless or hostile tool sends it. A throwaway tool key stands in for Invigil."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests

from tests.lms.conftest import ThrowawayTool, rsa_key
from tests.lms.platform import (
    ACS_MEDIA_TYPE,
    ACS_SCOPE,
    AP,
    CLIENT_ASSERTION_TYPE,
    DEEP_LINKING,
    DEEP_LINKING_RESPONSE,
    DL,
    END_ASSESSMENT,
    LEARNER,
    LTI,
    RESOURCE_LINK,
    START_PROCTORING,
    FakeLms,
)

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def login_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def auth_request(lms: FakeLms, login: dict[str, str], **changes: str) -> requests.Response:
    """What the tool's login endpoint sends the browser to: the OIDC authorization request."""
    params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": login["client_id"],
        "redirect_uri": login["target_link_uri"],
        "login_hint": login["login_hint"],
        "lti_message_hint": login["lti_message_hint"],
        "state": "state-" + secrets.token_urlsafe(6),
        "nonce": "nonce-" + secrets.token_urlsafe(6),
        **changes,
    }
    return requests.get(lms.authorize_url, params=params, timeout=5)


def posted_form(page: str) -> dict[str, str]:
    """The auto-submitting form's target and fields."""
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    fields["action"] = re.search(r'action="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return {k: unescape(v) for k, v in fields.items()}


def verified(lms: FakeLms, id_token: str, client_id: str) -> dict[str, Any]:
    """Verify an id_token the way a tool does: with the key from the LMS's published key set."""
    keys = requests.get(lms.jwks_url, timeout=5).json()["keys"]
    kid = jwt.get_unverified_header(id_token)["kid"]
    found = {k["kid"]: k for k in keys}
    if kid not in found:
        raise jwt.InvalidKeyError(f"No key {kid} in the LMS's key set.")
    return jwt.decode(id_token, jwt.PyJWK(found[kid]).key, algorithms=["RS256"], audience=client_id, issuer=lms.issuer)


def launch(lms: FakeLms, tool: ThrowawayTool, message_type: str, **where: Any) -> dict[str, Any]:
    """A whole platform-originating launch as a browser makes it; the verified claims."""
    login = login_params(lms.login_url(message_type, **where))
    response = auth_request(lms, login)
    assert response.status_code == 200, response.text
    return verified(lms, posted_form(response.text)["id_token"], tool.client_id)


def access_token(lms: FakeLms, tool: ThrowawayTool, scope: str = ACS_SCOPE) -> str:
    response = requests.post(
        lms.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": tool.assertion(lms),
            "scope": scope,
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def control(lms: FakeLms, token: str | None, action: str, **fields: Any) -> requests.Response:
    body = {
        "user": {"sub": "learner-1"},
        "resource_link": {"id": "quiz-1"},
        "attempt_number": 1,
        "action": action,
        "incident_time": datetime.now(UTC).isoformat(),
        "incident_severity": 0.4,
        "reason_code": "face-missing",
        "reason_msg": "No face for 30 seconds",
        **fields,
    }
    headers = {"Content-Type": ACS_MEDIA_TYPE}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(lms.acs_url, data=json.dumps(body), headers=headers, timeout=5)


def started(lms: FakeLms, tool: ThrowawayTool) -> dict[str, Any]:
    """A learner's LtiStartProctoring launch, answered with a good LtiStartAssessment."""
    claims = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    response = requests.post(lms.start_assessment_url, data={"JWT": tool.start_assessment(claims, lms)}, timeout=5)
    assert response.status_code == 200, response.text
    return claims


def test_its_key_set_verifies_the_resource_link_launch_it_sends(lms: FakeLms, tool: ThrowawayTool) -> None:
    login = login_params(lms.login_url(RESOURCE_LINK, user="learner-1", resource_link="quiz-1"))
    assert login["iss"] == lms.issuer
    assert login["client_id"] == tool.client_id
    assert login["lti_deployment_id"] == tool.deployment_id
    assert login["target_link_uri"] == tool.launch_url
    assert login["login_hint"] == "learner-1"

    response = auth_request(lms, login, state="s-1", nonce="n-1")
    form = posted_form(response.text)
    assert (form["action"], form["state"]) == (tool.launch_url, "s-1")
    claims = verified(lms, form["id_token"], tool.client_id)
    assert jwt.get_unverified_header(form["id_token"])["kid"] == lms.kid
    assert claims["nonce"] == "n-1"
    assert claims[LTI + "message_type"] == RESOURCE_LINK
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == tool.deployment_id
    assert claims[LTI + "target_link_uri"] == tool.launch_url
    assert claims[LTI + "resource_link"]["id"] == "quiz-1"
    assert claims[LTI + "context"]["label"] == "PHYS101"
    assert claims[LTI + "roles"] == [LEARNER]
    assert (claims["sub"], claims["email"], claims["given_name"]) == ("learner-1", "ada@example.edu", "Ada")
    assert [i.message_type for i in lms.issued] == [RESOURCE_LINK]


def test_a_start_proctoring_launch_carries_the_proctoring_claims(lms: FakeLms, tool: ThrowawayTool) -> None:
    first = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    second = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")

    assert first[LTI + "message_type"] == START_PROCTORING
    assert first[AP + "start_assessment_url"] == lms.start_assessment_url
    assert first[AP + "proctoring_settings"] == {"data": "video=on"}
    assert first[AP + "acs"] == {
        "assessment_control_url": lms.acs_url,
        "actions": ["flag", "pause", "resume", "terminate", "update"],
    }
    assert (first[AP + "attempt_number"], second[AP + "attempt_number"]) == (1, 2)
    assert first[AP + "session_data"] != second[AP + "session_data"]
    assert (
        first[AP + "session_data"] == lms.attempt_for(user="learner-1", resource_link="quiz-1", number=1).session_data
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"redirect_uri": "https://attacker.invalid/launch"}, "redirect_uri"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"login_hint": "ta-1"}, "login_hint"),
        ({"response_mode": "query"}, "response_mode"),
        ({"lti_message_hint": "made-up"}, "lti_message_hint"),
    ],
)
def test_authorize_refuses_a_bad_auth_request(
    lms: FakeLms, tool: ThrowawayTool, change: dict[str, str], reason: str
) -> None:
    login = login_params(lms.login_url(RESOURCE_LINK, user="learner-1", resource_link="quiz-1"))

    response = auth_request(lms, login, **change)

    assert response.status_code == 400
    assert "id_token" not in response.text
    assert lms.issued == []
    assert reason in lms.refusals[-1].reason


def test_a_message_hint_serves_one_launch(lms: FakeLms, tool: ThrowawayTool) -> None:
    login = login_params(lms.login_url(RESOURCE_LINK, user="learner-1", resource_link="quiz-1"))
    assert auth_request(lms, login).status_code == 200

    again = auth_request(lms, login)

    assert again.status_code == 400
    assert len(lms.issued) == 1


def test_the_proctored_attempt_runs_from_start_assessment_to_end_assessment(lms: FakeLms, tool: ThrowawayTool) -> None:
    claims = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    token = tool.start_assessment(claims, lms, **{AP + "verified_user": {"name": "Ada Lovelace"}})

    quiz = requests.post(lms.start_assessment_url, data={"JWT": token}, timeout=5)

    assert quiz.status_code == 200
    assert "Quiz: Midterm quiz" in quiz.text
    assert '<label for="answer">' in quiz.text
    assert "X-Frame-Options" not in quiz.headers
    attempt = lms.attempt_for(user="learner-1", resource_link="quiz-1")
    assert (attempt.status, attempt.end_assessment_return) == ("running", True)
    assert attempt.verified_user == {"name": "Ada Lovelace"}

    submitted = requests.post(
        f"{lms.url}/submit-assessment", data={"attempt": attempt.key, "answer": "42"}, allow_redirects=False, timeout=5
    )

    assert submitted.status_code == 302
    assert (attempt.status, attempt.answer) == ("complete", "42")
    login = login_params(submitted.headers["Location"])
    assert submitted.headers["Location"].startswith(tool.login_url)
    assert login["login_hint"] == "learner-1"
    end = auth_request(lms, login)
    ended = verified(lms, posted_form(end.text)["id_token"], tool.client_id)
    assert ended[LTI + "message_type"] == END_ASSESSMENT
    assert ended[AP + "attempt_number"] == 1
    assert ended[LTI + "resource_link"]["id"] == "quiz-1"


def test_without_end_assessment_return_the_lms_keeps_the_student(lms: FakeLms, tool: ThrowawayTool) -> None:
    claims = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    token = tool.start_assessment(claims, lms, **{AP + "end_assessment_return": False})
    requests.post(lms.start_assessment_url, data={"JWT": token}, timeout=5)
    attempt = lms.attempt_for(user="learner-1", resource_link="quiz-1")

    submitted = requests.post(
        f"{lms.url}/submit-assessment", data={"attempt": attempt.key, "answer": "42"}, allow_redirects=False, timeout=5
    )

    assert submitted.status_code == 200
    assert "Your answers were submitted." in submitted.text
    assert attempt.status == "complete"


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ({AP + "session_data": "forged"}, "session_data does not echo"),
        ({AP + "attempt_number": "1"}, "attempt_number does not echo"),
        ({"aud": "https://another-lms.invalid"}, "aud must be"),
        ({"iss": "another-client"}, "iss must be"),
        ({LTI + "deployment_id": "deployment-9"}, "deployment_id"),
        ({LTI + "message_type": "LtiResourceLinkRequest"}, "message_type"),
        ({LTI + "version": "1.1"}, "version"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"key": "other"}, "does not verify"),
        ({"remove": AP + "session_data"}, "claim is missing"),
        ({"remove": "nonce"}, "nonce claim is missing"),
    ],
)
def test_start_assessment_refuses_a_spoiled_message(
    lms: FakeLms, tool: ThrowawayTool, spoil: dict[str, Any], reason: str
) -> None:
    claims = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    spoil = dict(spoil)
    removed, other_key = spoil.pop("remove", None), spoil.pop("key", None)
    message = jwt.decode(tool.start_assessment(claims, lms, **spoil), options={"verify_signature": False})
    if removed:
        del message[removed]
    token = tool.sign(message, key=rsa_key(3) if other_key else None)

    response = requests.post(lms.start_assessment_url, data={"JWT": token}, timeout=5)

    assert response.status_code == 400
    assert "Quiz" not in response.text
    assert lms.attempt_for(user="learner-1", resource_link="quiz-1").status == "none"
    assert reason in lms.refusals[-1].reason
    assert reason.split(maxsplit=1)[0] in unescape(response.text)


def test_start_assessment_refuses_a_replayed_message(lms: FakeLms, tool: ThrowawayTool) -> None:
    claims = launch(lms, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    token = tool.start_assessment(claims, lms)
    assert requests.post(lms.start_assessment_url, data={"JWT": token}, timeout=5).status_code == 200

    replay = requests.post(lms.start_assessment_url, data={"JWT": token}, timeout=5)

    assert replay.status_code == 400
    assert "replay" in lms.refusals[-1].reason


def test_an_lms_that_forbids_framing_says_so_on_the_assessment(tool: ThrowawayTool) -> None:
    from tests.lms.conftest import add_the_cast, register_throwaway

    with FakeLms(key=rsa_key(4), forbid_framing=True) as strict:
        register_throwaway(add_the_cast(strict), tool)
        claims = launch(strict, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")

        quiz = requests.post(
            strict.start_assessment_url, data={"JWT": tool.start_assessment(claims, strict)}, timeout=5
        )

    assert quiz.status_code == 200
    assert quiz.headers["X-Frame-Options"] == "DENY"
    assert quiz.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_the_token_endpoint_grants_the_assessment_control_scope(lms: FakeLms, tool: ThrowawayTool) -> None:
    response = requests.post(
        lms.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": tool.assertion(lms),
            "scope": f"{ACS_SCOPE} {SCORE_SCOPE} https://example.invalid/scope/everything",
        },
        timeout=5,
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert body["scope"] == f"{ACS_SCOPE} {SCORE_SCOPE}"
    assert jwt.decode(body["access_token"], rsa_key(1).public_key(), algorithms=["RS256"])["iss"] == lms.issuer


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ({"aud": "https://elsewhere.invalid/token"}, "aud"),
        ({"iss": "someone-else"}, "iss and sub"),
        ({"sub": "someone-else"}, "iss and sub"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"key": "other"}, "does not verify"),
        ({"jti": "reused"}, "jti was already used"),
    ],
)
def test_the_token_endpoint_refuses_a_bad_assertion(
    lms: FakeLms, tool: ThrowawayTool, spoil: dict[str, Any], reason: str
) -> None:
    spoil = dict(spoil)
    other_key = spoil.pop("key", None)
    if spoil.get("jti") == "reused":
        access_token_with = tool.assertion(lms, jti="reused")
        requests.post(
            lms.token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": access_token_with,
                "scope": ACS_SCOPE,
            },
            timeout=5,
        )
    claims = jwt.decode(tool.assertion(lms, **spoil), options={"verify_signature": False})
    assertion = tool.sign(claims, key=rsa_key(3) if other_key else None)
    issued_before = len(lms.access_tokens)

    response = requests.post(
        lms.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
            "scope": ACS_SCOPE,
        },
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]
    assert len(lms.access_tokens) == issued_before


def test_the_token_endpoint_refuses_another_grant_type(lms: FakeLms, tool: ThrowawayTool) -> None:
    response = requests.post(
        lms.token_url,
        data={
            "grant_type": "password",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": tool.assertion(lms),
            "scope": ACS_SCOPE,
        },
        timeout=5,
    )

    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_assessment_control_moves_the_attempt_and_answers_with_its_status(lms: FakeLms, tool: ThrowawayTool) -> None:
    started(lms, tool)
    token = access_token(lms, tool)

    replies = [control(lms, token, action) for action in ("flag", "pause", "resume", "terminate")]

    assert [r.status_code for r in replies] == [200, 200, 200, 200]
    assert all(r.headers["Content-Type"] == ACS_MEDIA_TYPE for r in replies)
    assert [r.json()["status"] for r in replies] == ["running", "paused", "running", "terminated"]
    attempt = lms.attempt_for(user="learner-1", resource_link="quiz-1")
    assert [c["action"] for c in attempt.controls] == ["flag", "pause", "resume", "terminate"]
    assert lms.controls[0]["reason_msg"] == "No face for 30 seconds"


def test_assessment_control_can_add_time(lms: FakeLms, tool: ThrowawayTool) -> None:
    started(lms, tool)

    reply = control(lms, access_token(lms, tool), "update", extra_time=600)

    assert reply.json() == {"status": "running", "extra_time": 600}


@pytest.mark.parametrize(
    ("token_kind", "status"),
    [("none", 401), ("forged", 401), ("wrong scope", 403), ("other lms", 401)],
)
def test_assessment_control_refuses_a_request_without_the_right_token(
    lms: FakeLms, other_fake_lms: FakeLms, tool: ThrowawayTool, token_kind: str, status: int
) -> None:
    from tests.lms.conftest import register_throwaway

    started(lms, tool)
    token = {
        "none": lambda: None,
        "forged": lambda: jwt.encode(
            {"iss": lms.issuer, "sub": tool.client_id, "scopes": ACS_SCOPE}, rsa_key(3), algorithm="RS256"
        ),
        "wrong scope": lambda: access_token(lms, tool, SCORE_SCOPE),
        "other lms": lambda: access_token(register_throwaway(other_fake_lms, tool), tool),
    }[token_kind]()

    reply = control(lms, token, "terminate")

    assert reply.status_code == status
    assert lms.attempt_for(user="learner-1", resource_link="quiz-1").status == "running"
    assert lms.controls == []
    assert lms.refusals[-1].endpoint == "/acs"


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"incident_time": "yesterday"}, 400, "incident_time"),
        ({"action": "explode"}, 400, "action must be"),
        ({"attempt_number": 7}, 404, "No attempt"),
        ({"user": {"sub": "learner-1", "iss": "https://other.invalid"}}, 400, "user.iss"),
        ({"incident_severity": 3}, 400, "incident_severity"),
        ({"action": "resume"}, 409, "Cannot resume"),
    ],
)
def test_assessment_control_refuses_a_bad_request(
    lms: FakeLms, tool: ThrowawayTool, fields: dict[str, Any], status: int, reason: str
) -> None:
    started(lms, tool)

    fields = dict(fields)
    reply = control(lms, access_token(lms, tool), fields.pop("action", "pause"), **fields)

    assert reply.status_code == status
    assert reason in reply.json()["error_description"]
    assert lms.attempt_for(user="learner-1", resource_link="quiz-1").status == "running"


def test_assessment_control_wants_its_media_type(lms: FakeLms, tool: ThrowawayTool) -> None:
    started(lms, tool)
    body = {"user": {"sub": "learner-1"}, "resource_link": {"id": "quiz-1"}, "attempt_number": 1, "action": "flag"}

    reply = requests.post(
        lms.acs_url, json=body, headers={"Authorization": f"Bearer {access_token(lms, tool)}"}, timeout=5
    )

    assert reply.status_code == 415


def test_a_deep_linking_response_adds_content_once(lms: FakeLms, tool: ThrowawayTool) -> None:
    request = launch(lms, tool, DEEP_LINKING, user="instructor-1", context="course-phys101")
    settings = request[DL + "deep_linking_settings"]
    assert request[LTI + "message_type"] == DEEP_LINKING
    assert request[LTI + "target_link_uri"] == tool.deep_link_url
    assert settings["deep_link_return_url"] == lms.deep_link_return_url
    assert settings["accept_types"] == ["ltiResourceLink"]
    now = int(time.time())
    response_claims = {
        "iss": tool.client_id,
        "aud": lms.issuer,
        "iat": now,
        "exp": now + 300,
        "nonce": secrets.token_urlsafe(8),
        LTI + "message_type": DEEP_LINKING_RESPONSE,
        LTI + "version": "1.3.0",
        LTI + "deployment_id": tool.deployment_id,
        DL + "data": settings["data"],
        DL + "content_items": [{"type": "ltiResourceLink", "title": "Final exam", "url": tool.launch_url}],
    }

    added = requests.post(settings["deep_link_return_url"], data={"JWT": tool.sign(response_claims)}, timeout=5)
    again = requests.post(
        settings["deep_link_return_url"], data={"JWT": tool.sign({**response_claims, "nonce": "n2"})}, timeout=5
    )

    assert added.status_code == 200
    assert "Final exam" in added.text
    assert lms.content_items == [
        {"context": "course-phys101", "type": "ltiResourceLink", "title": "Final exam", "url": tool.launch_url}
    ]
    assert again.status_code == 400
    assert "data claim" in lms.refusals[-1].reason


def test_id_token_makes_the_spoiled_tokens_negative_tests_need(lms: FakeLms, tool: ThrowawayTool) -> None:
    def check(token: str) -> dict[str, Any]:
        return verified(lms, token, tool.client_id)

    good = check(lms.id_token(user="learner-1", resource_link="quiz-1", nonce="n-1"))
    assert (good["nonce"], good[LTI + "resource_link"]["id"]) == ("n-1", "quiz-1")
    with pytest.raises(jwt.ExpiredSignatureError):
        check(lms.id_token(user="learner-1", resource_link="quiz-1", issued_at=int(time.time()) - 900))
    with pytest.raises(jwt.InvalidSignatureError):
        check(lms.id_token(user="learner-1", resource_link="quiz-1", sign_with=rsa_key(3)))
    with pytest.raises(jwt.InvalidAudienceError):
        check(lms.id_token(user="learner-1", resource_link="quiz-1", overrides={"aud": "other"}))
    missing = check(lms.id_token(user="learner-1", resource_link="quiz-1", remove=[LTI + "deployment_id"]))
    assert LTI + "deployment_id" not in missing
    proctoring = check(lms.id_token(START_PROCTORING, user="learner-1", resource_link="quiz-1"))
    assert proctoring[AP + "session_data"] == lms.attempt_for(user="learner-1", resource_link="quiz-1").session_data


def test_alter_next_launch_spoils_only_the_next_id_token(lms: FakeLms, tool: ThrowawayTool) -> None:
    lms.alter_next_launch(overrides={LTI + "deployment_id": "deployment-9"})

    spoiled = launch(lms, tool, RESOURCE_LINK, user="learner-1", resource_link="quiz-1")
    clean = launch(lms, tool, RESOURCE_LINK, user="learner-1", resource_link="quiz-1")

    assert (spoiled[LTI + "deployment_id"], clean[LTI + "deployment_id"]) == ("deployment-9", tool.deployment_id)


def test_two_lms_have_their_own_issuer_and_key(lms: FakeLms, other_fake_lms: FakeLms, tool: ThrowawayTool) -> None:
    from tests.lms.conftest import register_throwaway

    register_throwaway(other_fake_lms, tool)
    token = other_fake_lms.id_token(user="learner-1", resource_link="quiz-1")

    assert other_fake_lms.issuer != lms.issuer
    assert other_fake_lms.kid != lms.kid
    assert verified(other_fake_lms, token, tool.client_id)["iss"] == other_fake_lms.issuer
    with pytest.raises(jwt.PyJWTError):
        verified(lms, token, tool.client_id)


def test_the_course_page_offers_the_three_launches_and_sets_its_session(lms: FakeLms, tool: ThrowawayTool) -> None:
    page = requests.get(lms.course_url("course-phys101", user="learner-1"), timeout=5)

    assert page.status_code == 200
    for text in ("Start proctored quiz", "Open Invigil", "Add Invigil content", "Midterm quiz"):
        assert text in page.text
    assert page.cookies["fakelms_user"] == "learner-1"
    start = re.search(r'href="([^"]*start-proctoring[^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    redirect = requests.get(lms.url + unescape(start), allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith(tool.login_url)
    assert lms.attempt_for(user="learner-1", resource_link="quiz-1").number == 1


def test_an_lms_that_needs_its_session_cookie_refuses_a_start_assessment_without_it(tool: ThrowawayTool) -> None:
    from tests.lms.conftest import add_the_cast, register_throwaway

    with FakeLms(key=rsa_key(4), require_session_cookie=True) as strict:
        register_throwaway(add_the_cast(strict), tool)
        browser = requests.Session()
        browser.get(strict.course_url("course-phys101", user="learner-1"), timeout=5)
        claims = launch(strict, tool, START_PROCTORING, user="learner-1", resource_link="quiz-1")

        url = strict.start_assessment_url
        without = requests.post(url, data={"JWT": tool.start_assessment(claims, strict)}, timeout=5)
        with_cookie = browser.post(url, data={"JWT": tool.start_assessment(claims, strict)}, timeout=5)

    assert without.status_code == 403
    assert "session cookie" in strict.refusals[-1].reason
    assert with_cookie.status_code == 200
    assert strict.received[-1].detail["session_user"] == "learner-1"
