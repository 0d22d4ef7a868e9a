"""Launch validation: a launch the LMS signed for Invigil gets in; every other is refused with a page,
an audit entry naming why, and nothing created."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from lti.launch import CLAIM
from lti.models import LoginState, UsedNonce
from tests.conftest import World
from tests.lti.conftest import ISSUER, Lms, exam_link, made_from_launches, refusals

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_the_login_sends_the_browser_to_the_lms_with_a_state_bound_to_a_cookie(lms: Lms) -> None:
    login = lms.login()
    assert login.redirect.startswith(f"{ISSUER}/mod/lti/auth.php?")
    for expected in ("response_type=id_token", "response_mode=form_post", "scope=openid", "prompt=none"):
        assert expected in login.redirect
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Flti%2Flaunch%2F" in login.redirect
    stored = LoginState.objects.get(state=login.state)
    assert stored.nonce == login.nonce
    assert stored.used_at is None
    cookie = lms.client.cookies[f"invigil-lti-{login.state}"]
    # Plain http (the test server): Lax, as browsers refuse SameSite=None without Secure.
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]


def test_a_login_over_https_sets_a_secure_same_site_none_cookie(lms: Lms) -> None:
    response = lms.client.get(
        "/lti/login/",
        {"iss": ISSUER, "login_hint": "u", "target_link_uri": "https://testserver/lti/launch/"},
        secure=True,
    )
    assert response.status_code == 302
    state = LoginState.objects.get().state
    cookie = response.cookies[f"__Host-invigil-lti-{state}"]
    assert cookie["samesite"] == "None"
    assert cookie["secure"]


def test_a_signed_launch_for_invigil_opens_the_exam(world: World, lms: Lms, linked_course: Any) -> None:
    response = lms.launch(**exam_link(world.exam.pk))
    assert response.status_code == 302
    assert response["Location"] == f"/exams/{world.exam.pk}/lobby/"
    assert UsedNonce.objects.count() == 1


@pytest.mark.parametrize(
    ("login_params", "reason"),
    [
        ({"iss": "https://evil.example"}, "unknown_platform"),
        ({"client_id": "someone-else"}, "unknown_platform"),
        ({"lti_deployment_id": "deployment-9"}, "unknown_deployment"),
        ({"target_link_uri": "https://evil.example/lti/launch/"}, "foreign_target_link"),
        ({"login_hint": ""}, "login_missing_parameter"),
    ],
)
def test_a_login_from_an_unknown_lms_or_for_another_site_is_refused(
    lms: Lms, login_params: dict[str, str], reason: str
) -> None:
    query = {"iss": ISSUER, "client_id": "invigil-client", "login_hint": "u", "target_link_uri": "http://testserver/x"}
    response = lms.client.post("/lti/login/", {**query, **login_params})
    assert response.status_code == 400
    assert "Invigil could not open this from your LMS" in response.content.decode()
    assert LoginState.objects.count() == 0
    assert [event.detail["reason"] for event in refusals("lti.login_refused")] == [reason]


def _expired(lms: Lms, nonce: str) -> dict[str, Any]:
    past = int(time.time()) - 3600
    return lms.claims(nonce, iat=past, exp=past + 300)


TOKEN_CASES: dict[str, tuple[Any, str]] = {
    # name: (how to make the token from (lms, login nonce, stranger key), the audit reason)
    "bad signature": (lambda lms, nonce, other: lms.id_token(lms.claims(nonce), key=other), "bad_signature"),
    "key the lms does not publish": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce), key=other, kid="nobody"),
        "unknown_key",
    ),
    "wrong audience": (lambda lms, nonce, other: lms.id_token(lms.claims(nonce, aud="another-tool")), "wrong_audience"),
    "several audiences without azp": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, aud=["invigil-client", "another-tool"])),
        "wrong_authorized_party",
    ),
    "azp of another tool": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, azp="another-tool")),
        "wrong_authorized_party",
    ),
    "expired": (lambda lms, nonce, other: lms.id_token(_expired(lms, nonce)), "expired"),
    "another issuer": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, iss="https://evil.example")),
        "wrong_issuer",
    ),
    "unknown deployment": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, **{CLAIM + "deployment_id": "deployment-9"})),
        "unknown_deployment",
    ),
    "nonce of another login": (lambda lms, nonce, other: lms.id_token(lms.claims("other-nonce")), "nonce_mismatch"),
    "missing message type": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, **{CLAIM + "message_type": None})),
        "missing_claim",
    ),
    "missing sub": (lambda lms, nonce, other: lms.id_token(lms.claims(nonce, sub=None)), "missing_claim"),
    "missing exp": (lambda lms, nonce, other: lms.id_token(lms.claims(nonce, exp=None)), "missing_claim"),
    "missing resource link": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, **{CLAIM + "resource_link": None})),
        "missing_claim",
    ),
    "wrong version": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, **{CLAIM + "version": "1.1"})),
        "wrong_version",
    ),
    "unknown message type": (
        lambda lms, nonce, other: lms.id_token(lms.claims(nonce, **{CLAIM + "message_type": "LtiMadeUp"})),
        "unknown_message_type",
    ),
    "submission review not supported yet": (
        lambda lms, nonce, other: lms.id_token(
            lms.claims(nonce, **{CLAIM + "message_type": "LtiSubmissionReviewRequest"})
        ),
        "unsupported_message_type",
    ),
    "symmetric algorithm": (
        lambda lms, nonce, other: jwt.encode(lms.claims(nonce), "a-shared-secret-of-32-bytes-long!", algorithm="HS256"),
        "bad_algorithm",
    ),
    "not a jwt": (lambda lms, nonce, other: "not-a-token", "malformed_token"),
}


@pytest.mark.parametrize("case", list(TOKEN_CASES))
def test_a_launch_that_does_not_check_out_is_refused_with_a_page_an_audit_entry_and_nothing_made(
    world: World, lms: Lms, linked_course: Any, stranger_key: rsa.RSAPrivateKey, case: str
) -> None:
    make, reason = TOKEN_CASES[case]
    login = lms.login()
    before = made_from_launches()
    token = make(lms, login.nonce, stranger_key)
    response = lms.client.post("/lti/launch/", {"id_token": token, "state": login.state})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Invigil could not open this from your LMS" in page
    assert reason in page
    assert made_from_launches() == before
    [event] = refusals()
    assert event.detail["reason"] == reason
    assert "id_token" not in str(event.detail)
    assert token not in str(event.detail)


def test_a_replayed_launch_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    login = lms.login()
    token = lms.id_token(lms.claims(login.nonce, **exam_link(world.exam.pk)))
    cookie = f"invigil-lti-{login.state}"
    kept = lms.client.cookies[cookie].value
    assert lms.launch(login=login, token=token).status_code == 302
    # The launch deleted its cookie; one kept from before it does not make the state usable again.
    assert lms.client.cookies[cookie].value == ""
    lms.client.cookies[cookie] = kept
    again = lms.launch(login=login, token=token)
    assert again.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["state_used_or_expired"]


def test_a_nonce_the_lms_already_used_is_refused_even_with_a_fresh_state(
    world: World, lms: Lms, linked_course: Any
) -> None:
    first = lms.login()
    assert lms.launch(login=first, **exam_link(world.exam.pk)).status_code == 302
    second = lms.login()
    LoginState.objects.filter(state=second.state).update(nonce=first.nonce)
    before = made_from_launches()
    token = lms.id_token(lms.claims(first.nonce, **exam_link(world.exam.pk)))
    response = lms.client.post("/lti/launch/", {"id_token": token, "state": second.state})
    assert response.status_code == 400
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["replayed_nonce"]


def test_a_state_invigil_never_issued_is_refused(lms: Lms) -> None:
    login = lms.login()
    token = lms.id_token(lms.claims(login.nonce))
    response = lms.client.post("/lti/launch/", {"id_token": token, "state": "made-up"})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["unknown_state"]


def test_a_launch_posted_from_another_browser_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    login = lms.login()
    lms.client.cookies.clear()
    response = lms.launch(login=login, **exam_link(world.exam.pk))
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["state_not_bound_to_browser"]
    # The state is still unused: the right browser may finish the launch.
    assert LoginState.objects.get(state=login.state).used_at is None


def test_an_expired_login_is_refused(world: World, lms: Lms, linked_course: Any, time_machine: Any) -> None:
    login = lms.login()
    time_machine.move_to(timezone.now() + timedelta(minutes=11))
    token = lms.id_token(lms.claims(login.nonce, **exam_link(world.exam.pk)))
    response = lms.client.post("/lti/launch/", {"id_token": token, "state": login.state})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["state_used_or_expired"]


def test_a_launch_of_another_courses_link_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    assert lms.launch(**exam_link(world.exam.pk)).status_code == 302
    before = made_from_launches()
    other_context = {"id": "ctx-2", "label": "CHEM-LMS", "title": "Chemistry"}
    response = lms.launch(**{CLAIM + "context": other_context, "sub": "lms-user-2"})
    assert response.status_code == 403
    assert "belongs to another course" in response.content.decode()
    assert made_from_launches() == before
    [event] = refusals()
    assert event.detail["reason"] == "other_course_link"
    assert event.detail["context_id"] == "ctx-2"


def test_a_link_naming_an_exam_of_another_course_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    before = made_from_launches()
    response = lms.launch(**exam_link(world.other_exam.pk))
    assert response.status_code == 403
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["other_course_exam"]


def test_a_link_without_an_exam_is_refused_saying_how_to_attach_one(world: World, lms: Lms, linked_course: Any) -> None:
    response = lms.launch()
    assert response.status_code == 400
    assert "deep linking" in response.content.decode()
    assert [event.detail["reason"] for event in refusals()] == ["no_exam_attached"]


def test_expired_login_states_and_nonces_are_purged(
    world: World, lms: Lms, linked_course: Any, time_machine: Any
) -> None:
    from lti.tasks import purge_login_states

    lms.launch(**exam_link(world.exam.pk))
    lms.login()
    assert purge_login_states() == {"states": 0, "nonces": 0}
    time_machine.move_to(timezone.now() + timedelta(hours=1))
    assert purge_login_states() == {"states": 2, "nonces": 1}


def test_a_launch_is_refused_when_the_lms_key_set_cannot_be_fetched(
    world: World, lms: Lms, linked_course: Any, platform: Any
) -> None:
    # A port nothing listens on: the fetch fails at once.
    platform.keyset_url = "http://127.0.0.1:9/jwks"
    platform.save()
    before = made_from_launches()
    response = lms.launch(**exam_link(world.exam.pk))
    assert response.status_code == 400
    assert "could not fetch the LMS" in response.content.decode()
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["keyset_unavailable"]


def test_an_unsigned_token_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    login = lms.login()
    token = jwt.encode(lms.claims(login.nonce, **exam_link(world.exam.pk)), None, algorithm="none")
    response = lms.client.post("/lti/launch/", {"id_token": token, "state": login.state})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["bad_algorithm"]


def test_the_lms_message_hint_is_passed_back_to_it(lms: Lms) -> None:
    login = lms.login(lti_message_hint="hint-77")
    assert "lti_message_hint=hint-77" in login.redirect
    assert "login_hint=user-1" in login.redirect


def test_a_platform_switched_off_between_login_and_launch_is_refused(
    world: World, lms: Lms, linked_course: Any, platform: Any
) -> None:
    login = lms.login()
    platform.active = False
    platform.save()
    before = made_from_launches()
    response = lms.launch(login=login, **exam_link(world.exam.pk))
    assert response.status_code == 400
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["platform_inactive"]
    # And a new login is refused from the start.
    assert lms.client.get("/lti/login/", {"iss": ISSUER, "login_hint": "u", "target_link_uri": "x"}).status_code == 400
