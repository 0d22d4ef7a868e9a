"""The fake LMS in a real browser: its course page, redirects and auto-posting forms carry a proctored
attempt from LtiStartProctoring through LtiStartAssessment to LtiEndAssessment. The tool here is a bare
stand-in (login, launch, key set) on localhost, so Chromium sees two sites as it does with Invigil."""

from __future__ import annotations

import html
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.lms.conftest import ThrowawayTool
from tests.lms.platform import AP, END_ASSESSMENT, LTI, START_PROCTORING, FakeLms

pytestmark = pytest.mark.browser


class StandInTool:
    """Just enough of a proctoring tool: OIDC login, a launch that verifies the id_token with the LMS's
    key set, a "Start the assessment" button that posts LtiStartAssessment, and an end page."""

    def __init__(self, lms: FakeLms, keys: ThrowawayTool, *, framed: bool = False) -> None:
        self.lms, self.keys = lms, keys
        #: Post LtiStartAssessment into a frame on the tool's page rather than the whole window.
        self.framed = framed
        self.launches: list[dict[str, Any]] = []
        self._logins: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://localhost:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def login(self, params: dict[str, str]) -> str:
        state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        self._logins[state] = nonce
        query = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": params["client_id"],
            "redirect_uri": f"{self.url}/launch",
            "login_hint": params["login_hint"],
            "lti_message_hint": params["lti_message_hint"],
            "state": state,
            "nonce": nonce,
        }
        return f"{self.lms.authorize_url}?{urlencode(query)}"

    def launch(self, form: dict[str, str]) -> str:
        keys = requests.get(self.lms.jwks_url, timeout=5).json()["keys"]
        claims = jwt.decode(
            form["id_token"],
            jwt.PyJWK(keys[0]).key,
            algorithms=["RS256"],
            audience=self.keys.client_id,
            issuer=self.lms.issuer,
        )
        assert claims["nonce"] == self._logins.pop(form["state"])
        self.launches.append(claims)
        if claims[LTI + "message_type"] == START_PROCTORING:
            token = self.keys.start_assessment(claims, self.lms)
            frame = '<iframe name="assessment" title="Assessment" width="800" height="400"></iframe>'
            target = ' target="assessment"' if self.framed else ""
            return (
                '<!doctype html><html lang="en"><head><title>Checks</title></head><body><main>'
                "<h1>Proctoring checks passed</h1>"
                f'<form method="post" action="{html.escape(claims[AP + "start_assessment_url"])}"'
                f"{target}>"
                f'<input type="hidden" name="JWT" value="{html.escape(token)}">'
                '<button type="submit">Start the assessment</button></form>'
                f"{frame if self.framed else ''}</main></body></html>"
            )
        return (
            '<!doctype html><html lang="en"><head><title>Ended</title></head><body><main>'
            f"<h1>Proctoring ended for attempt {claims.get(AP + 'attempt_number')}</h1></main></body></html>"
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tool = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if not self.path.startswith("/login?"):
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(302)
                self.send_header("Location", tool.login(dict(parse_qsl(urlsplit(self.path).query))))
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802 - the base class's name
                length = int(self.headers["Content-Length"])
                page = tool.launch(dict(parse_qsl(self.rfile.read(length).decode()))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                """Quiet."""

        return Handler


@pytest.fixture
def stand_in(fake_lms: FakeLms, tool: ThrowawayTool) -> Iterator[StandInTool]:
    stand_in = StandInTool(fake_lms, tool)
    fake_lms.register_tool(
        client_id=tool.client_id,
        deployment_id=tool.deployment_id,
        login_url=f"{stand_in.url}/login",
        launch_url=f"{stand_in.url}/launch",
        key_set_url=tool.key_set_url,
    )
    yield stand_in
    stand_in.close()


def test_a_proctored_attempt_runs_through_the_lms_in_chromium(
    page: Any, fake_lms: FakeLms, stand_in: StandInTool
) -> None:
    from playwright.sync_api import expect

    page.goto(fake_lms.course_url("course-phys101", user="learner-1"))
    page.get_by_role("link", name="Start proctored quiz").click()
    expect(page.get_by_role("heading", name="Proctoring checks passed")).to_be_visible()

    page.get_by_role("button", name="Start the assessment").click()
    expect(page.get_by_role("heading", name="Quiz: Midterm quiz")).to_be_visible()
    page.get_by_label("What is 6 × 7?").fill("42")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", name="Proctoring ended for attempt 1")).to_be_visible()
    attempt = fake_lms.attempt_for(user="learner-1", resource_link="quiz-1")
    assert (attempt.status, attempt.answer) == ("complete", "42")
    assert [c[LTI + "message_type"] for c in stand_in.launches] == [START_PROCTORING, END_ASSESSMENT]
    assert fake_lms.refusals == []


def stand_in_for(lms: FakeLms, keys: ThrowawayTool, *, framed: bool) -> StandInTool:
    stand_in = StandInTool(lms, keys, framed=framed)
    lms.register_tool(
        client_id=keys.client_id,
        deployment_id=keys.deployment_id,
        login_url=f"{stand_in.url}/login",
        launch_url=f"{stand_in.url}/launch",
        key_set_url=keys.key_set_url,
    )
    return stand_in


def start_assessment_from_the_course(page: Any, lms: FakeLms) -> None:
    page.goto(lms.course_url("course-phys101", user="learner-1"))
    page.get_by_role("link", name="Start proctored quiz").click()
    page.get_by_role("button", name="Start the assessment").click()


def test_an_lms_that_allows_framing_shows_its_assessment_inside_the_tools_page(
    page: Any, fake_lms: FakeLms, tool: ThrowawayTool
) -> None:
    from playwright.sync_api import expect

    stand_in = stand_in_for(fake_lms, tool, framed=True)
    try:
        start_assessment_from_the_course(page, fake_lms)
        frame = page.frame_locator('iframe[title="Assessment"]')
        expect(frame.get_by_role("heading", name="Quiz: Midterm quiz")).to_be_visible()
        frame.get_by_label("What is 6 × 7?").fill("42")
        frame.get_by_role("button", name="Submit").click()

        # LtiEndAssessment comes back inside the frame: the tool's page is still the top window.
        expect(frame.get_by_role("heading", name="Proctoring ended for attempt 1")).to_be_visible()
        expect(page.get_by_role("heading", name="Proctoring checks passed")).to_be_visible()
    finally:
        stand_in.close()


def test_an_lms_that_forbids_framing_starts_the_attempt_but_shows_nothing_in_the_frame(
    page: Any, tool: ThrowawayTool
) -> None:
    from tests.lms.conftest import add_the_cast, rsa_key

    with FakeLms(key=rsa_key(4), forbid_framing=True) as strict:
        stand_in = stand_in_for(add_the_cast(strict), tool, framed=True)
        try:
            blocked = page.expect_event("requestfailed", lambda request: request.url == strict.start_assessment_url)
            with blocked as failed:
                start_assessment_from_the_course(page, strict)

            # The LMS took LtiStartAssessment and started the attempt; Chromium would not show its answer.
            assert failed.value.failure == "net::ERR_BLOCKED_BY_RESPONSE"
            assert [r.accepted for r in strict.received if r.endpoint == "/start-assessment"] == [True]
            assert strict.attempt_for(user="learner-1", resource_link="quiz-1").status == "running"
            frame = page.frame_locator('iframe[title="Assessment"]')
            assert frame.get_by_role("heading", name="Quiz: Midterm quiz").count() == 0
        finally:
            stand_in.close()


@pytest.mark.parametrize(("framed", "accepted"), [(False, True), (True, False)])
def test_a_samesite_none_session_cookie_reaches_the_lms_only_outside_a_frame(
    page: Any, tool: ThrowawayTool, framed: bool, accepted: bool
) -> None:
    """What this Chromium does with an LMS's SameSite=None; Secure cookie on the cross-site POST of
    LtiStartAssessment: sent by a top-level form, not from inside a frame (third-party cookies are blocked)."""
    from tests.lms.conftest import add_the_cast, rsa_key

    options = {"require_session_cookie": True, "session_cookie_samesite": "None"}
    with FakeLms(key=rsa_key(4), **options) as lms:
        stand_in = stand_in_for(add_the_cast(lms), tool, framed=framed)
        try:
            with page.expect_response(lms.start_assessment_url):
                start_assessment_from_the_course(page, lms)

            (received,) = [r for r in lms.received if r.endpoint == "/start-assessment"]
            assert received.accepted is accepted
            if not accepted:
                assert "session cookie" in received.reason
        finally:
            stand_in.close()
