"""An LMS for the LTI tests: its own RSA key, published by a real key-set server on loopback, and a
helper that runs the login and launch as a browser would (the test client keeps the state cookie)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from exams.models import Course, CourseMembership
from lti.launch import CLAIM, DL_CLAIM
from lti.models import Deployment, LtiContext, LtiIdentity, Platform, ResourceLink
from proctor.models import AuditEvent
from tests.conftest import World

ISSUER = "https://lms.example.edu"
CLIENT_ID = "invigil-client"
DEPLOYMENT = "deployment-1"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
LAUNCH_URL = "http://testserver/lti/launch/"


@dataclass
class KeySetServer:
    """Serves ``keys`` as a JWKS at ``url`` from a thread, as an LMS's key-set endpoint would."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="session")
def lms_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def keys_served(keys: list[dict[str, Any]]) -> Iterator[KeySetServer]:
    """``keys`` as a JWKS on a loopback port, while in the block; the test may change ``served.keys``."""
    served = KeySetServer(url="", keys=keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def key_set_served(key: rsa.RSAPrivateKey) -> Iterator[KeySetServer]:
    """The LMS's key-set endpoint for ``key`` (kid lms-key-1), on a loopback port, while in the block."""
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    with keys_served([{**public, "kid": "lms-key-1", "alg": "RS256", "use": "sig"}]) as served:
        yield served


@pytest.fixture(scope="session")
def key_set_server(lms_key: rsa.RSAPrivateKey) -> Iterator[KeySetServer]:
    with key_set_served(lms_key) as served:
        yield served


@pytest.fixture
def platform(world: World, key_set_server: KeySetServer) -> Platform:
    platform = Platform.objects.create(
        name="Example Moodle",
        institution=world.course.institution,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        auth_login_url=f"{ISSUER}/mod/lti/auth.php",
        auth_token_url=f"{ISSUER}/mod/lti/token.php",
        keyset_url=key_set_server.url,
    )
    Deployment.objects.create(platform=platform, deployment_id=DEPLOYMENT)
    return platform


@pytest.fixture
def linked_course(world: World, platform: Platform) -> LtiContext:
    """The LMS's course "ctx-1" is world.course (as after the instructor's first launch)."""
    return LtiContext.objects.create(platform=platform, context_id="ctx-1", course=world.course)


@dataclass
class Login:
    state: str
    nonce: str
    redirect: str


class Lms:
    """Plays the LMS's side of a launch against the test client (the student's browser)."""

    def __init__(self, key: rsa.RSAPrivateKey, client: Client) -> None:
        self.key = key
        self.client = client

    def login(self, **params: str) -> Login:
        query = {
            "iss": ISSUER,
            "client_id": CLIENT_ID,
            "login_hint": "user-1",
            "target_link_uri": LAUNCH_URL,
            "lti_deployment_id": DEPLOYMENT,
            **params,
        }
        response = self.client.get("/lti/login/", {k: v for k, v in query.items() if v is not None})
        assert response.status_code == 302, response.content
        sent = parse_qs(urlsplit(response["Location"]).query)
        return Login(state=sent["state"][0], nonce=sent["nonce"][0], redirect=response["Location"])

    def claims(self, nonce: str, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "lms-user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.edu",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": LAUNCH_URL,
            CLAIM + "resource_link": {"id": "link-1", "title": "Midterm"},
            CLAIM + "context": {"id": "ctx-1", "label": "PHYS-LMS", "title": "Physics in the LMS"},
            CLAIM + "roles": [LEARNER],
            CLAIM + "custom": {},
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self, claims: dict[str, Any], *, key: Any = None, kid: str = "lms-key-1", alg: str = "RS256") -> str:
        return jwt.encode(claims, key or self.key, algorithm=alg, headers={"kid": kid})

    def launch(self, *, login: Login | None = None, token: str | None = None, **changes: Any) -> Any:
        """Log in, then post a launch with the default claims changed by ``changes`` (None removes one)."""
        login = login or self.login()
        token = token or self.id_token(self.claims(login.nonce, **changes))
        return self.client.post("/lti/launch/", {"id_token": token, "state": login.state})

    def deep_linking(self, **changes: Any) -> Any:
        settings = {
            "deep_link_return_url": f"{ISSUER}/mod/lti/contentitem_return.php",
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["window"],
            "data": "opaque-data-42",
        }
        return self.launch(
            **{
                CLAIM + "message_type": "LtiDeepLinkingRequest",
                CLAIM + "resource_link": None,
                CLAIM + "roles": [INSTRUCTOR],
                DL_CLAIM + "deep_linking_settings": settings,
                **changes,
            }
        )


@pytest.fixture
def lms(lms_key: rsa.RSAPrivateKey, platform: Platform) -> Lms:
    return Lms(lms_key, Client())


def exam_link(exam_id: int) -> dict[str, Any]:
    """The custom claim deep linking put on the LMS item."""
    return {CLAIM + "custom": {"invigil_exam": str(exam_id)}}


def made_from_launches() -> dict[str, int]:
    """Counts of everything a launch may create: nothing of it must appear after a refusal."""
    from django.contrib.auth import get_user_model

    return {
        "users": get_user_model().objects.count(),
        "courses": Course.objects.count(),
        "memberships": CourseMembership.objects.count(),
        "identities": LtiIdentity.objects.count(),
        "contexts": LtiContext.objects.count(),
        "links": ResourceLink.objects.count(),
    }


def refusals(action: str = "lti.launch_refused") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome="refused"))


def unique() -> str:
    return uuid.uuid4().hex


def form_field(html: str, name: str) -> str:
    """The value of a form's hidden field on a page."""
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found is not None, f"no {name} field"
    return unescape(found.group(1))
