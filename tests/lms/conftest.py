"""Fixtures for the LMS Invigil did not write (tests/lms/platform.py): started and stopped per test, with
RSA keys made once per process (each LMS and the throwaway tool still has its own)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.registration import Registration

from tests.lms.platform import (
    AP,
    INSTRUCTOR,
    LEARNER,
    LTI,
    START_ASSESSMENT,
    TEACHING_ASSISTANT,
    FakeLms,
    new_private_key,
    public_key_pem,
)


@cache
def rsa_key(index: int) -> rsa.RSAPrivateKey:
    """The index-th RSA key of this process: 2048-bit keys take a tenth of a second each to make."""
    return new_private_key()


class ThrowawayTool:
    """The tool side for the harness's own tests: a key pair whose key set is served over HTTP, and
    signing with PyJWT. Invigil's own tool is not involved."""

    client_id = "invigil-client"
    deployment_id = "deployment-1"
    login_url = "https://tool.invalid/lti/login"
    launch_url = "https://tool.invalid/lti/launch"
    deep_link_url = "https://tool.invalid/lti/deep-link"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.kid = Registration.get_jwk(public_key_pem(key))["kid"]
        jwks = json.dumps({"keys": [Registration.get_jwk(public_key_pem(key))]}).encode()

        class KeySet(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), KeySet)
        self.key_set_url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(self, claims: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def assertion(self, lms: FakeLms, **overrides: Any) -> str:
        """The signed client assertion for /token (IMS Security Framework 4.1)."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": lms.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(12),
        }
        return self.sign({**claims, **overrides})

    def start_assessment(self, launch: dict[str, Any], lms: FakeLms, **overrides: Any) -> str:
        """LtiStartAssessment for a LtiStartProctoring launch's claims, echoing session_data and attempt_number."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "aud": lms.issuer,
            "iat": now,
            "exp": now + 300,
            "nonce": secrets.token_urlsafe(12),
            LTI + "message_type": START_ASSESSMENT,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "resource_link": launch[LTI + "resource_link"],
            AP + "session_data": launch[AP + "session_data"],
            AP + "attempt_number": launch[AP + "attempt_number"],
            AP + "end_assessment_return": True,
        }
        return self.sign({**claims, **overrides})


@pytest.fixture
def tool() -> Iterator[ThrowawayTool]:
    tool = ThrowawayTool(rsa_key(0))
    yield tool
    tool.close()


def add_the_cast(lms: FakeLms) -> FakeLms:
    """One course (PHYS101) with one proctored quiz, and a learner, an instructor and a teaching assistant."""
    lms.add_user("learner-1", name="Ada Lovelace", email="ada@example.edu", roles=[LEARNER])
    lms.add_user("instructor-1", name="Grace Hopper", email="grace@example.edu", roles=[INSTRUCTOR])
    lms.add_user("ta-1", name="Alan Turing", email="alan@example.edu", roles=[TEACHING_ASSISTANT])
    lms.add_context("course-phys101", label="PHYS101", title="Physics I")
    lms.add_resource_link(
        "quiz-1", context="course-phys101", title="Midterm quiz", proctoring_settings={"data": "video=on"}
    )
    return lms


@pytest.fixture
def fake_lms() -> Iterator[FakeLms]:
    """The LMS, started with the cast; the test registers the tool it drives (Invigil or a throwaway)."""
    lms = add_the_cast(FakeLms(key=rsa_key(1)))
    yield lms
    lms.close()


@pytest.fixture
def other_fake_lms() -> Iterator[FakeLms]:
    """A second, independent LMS: another issuer with its own key and the same cast."""
    lms = add_the_cast(FakeLms(key=rsa_key(2), name="Other LMS"))
    yield lms
    lms.close()


def register_throwaway(lms: FakeLms, tool: ThrowawayTool) -> FakeLms:
    lms.register_tool(
        client_id=tool.client_id,
        deployment_id=tool.deployment_id,
        login_url=tool.login_url,
        launch_url=tool.launch_url,
        key_set_url=tool.key_set_url,
        deep_link_url=tool.deep_link_url,
    )
    return lms


@pytest.fixture
def lms(fake_lms: FakeLms, tool: ThrowawayTool) -> FakeLms:
    """The LMS with the throwaway tool registered, for the harness's own tests."""
    return register_throwaway(fake_lms, tool)
