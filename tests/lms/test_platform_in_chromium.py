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

    def __init__(self, lms: FakeLms, keys: ThrowawayTool) -> None:
        self.lms, self.keys = lms, keys
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
            return (
                '<!doctype html><html lang="en"><head><title>Checks</title></head><body><main>'
                "<h1>Proctoring checks passed</h1>"
                f'<form method="post" action="{html.escape(claims[AP + "start_assessment_url"])}">'
                f'<input type="hidden" name="JWT" value="{html.escape(token)}">'
                '<button type="submit">Start the assessment</button></form></main></body></html>'
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
