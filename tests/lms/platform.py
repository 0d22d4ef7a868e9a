"""An LMS that Invigil did not write, for the tests: a real HTTP server on loopback that plays the platform
side of LTI 1.3, Deep Linking 2.0 and IMS Proctoring Services 1.0 (messages and Assessment Control).

The platform's own pieces come from PyPI's lti1p3platform (registration and key set, third-party login
initiation, launch messages and their signing, deep-linking claims and response checks, client-credentials
tokens and their validation). What that library leaves out, this module adds: the `aud`, `iss`, nonce and
`jti` checks on what the tool sends, the proctoring messages and their echo checks, and the Assessment
Control scope and endpoint. See tests/lms/README.md for what is checked where and the specs behind it.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.constants import LTI_1P3_ACCESS_TOKEN_REQUIRED_CLAIMS, LTI_1P3_ACCESS_TOKEN_SCOPES
from lti1p3platform.deep_linking import LtiDeepLinking
from lti1p3platform.exceptions import (
    InvalidKeySetUrl,
    LtiDeepLinkingResponseException,
    LtiException,
    PreflightRequestValidationException,
)
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LaunchData, LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
START_PROCTORING = "LtiStartProctoring"
START_ASSESSMENT = "LtiStartAssessment"
END_ASSESSMENT = "LtiEndAssessment"

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"

ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ACS_MEDIA_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
ACS_ACTIONS = ("flag", "pause", "resume", "terminate", "update")
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The scopes this LMS grants: the library's (AGS, NRPS) and the Assessment Control scope it lacks.
GRANTABLE_SCOPES = (*LTI_1P3_ACCESS_TOKEN_SCOPES, ACS_SCOPE)

#: The LMS's own session cookie, set by the course page.
SESSION_COOKIE = "fakelms_user"
#: Seconds of clock skew allowed on a tool's `iat`.
LEEWAY = 5
TOKEN_LIFETIME = 3600


class Refused(Exception):
    """The LMS refuses a request: the status it answers with and a reason a person can read."""

    def __init__(self, reason: str, status: int = 400, error: str = "invalid_request") -> None:
        super().__init__(reason)
        self.reason, self.status, self.error = reason, status, error


@dataclass
class Tool:
    """The tool's registration on this LMS, as an admin enters it."""

    client_id: str
    deployment_id: str
    login_url: str
    launch_url: str
    key_set_url: str
    redirect_uris: list[str]
    deep_link_url: str | None = None


@dataclass
class User:
    sub: str
    name: str
    email: str
    roles: list[str]
    given_name: str = ""
    family_name: str = ""


@dataclass
class Context:
    id: str
    label: str
    title: str


@dataclass
class ResourceLink:
    id: str
    context: str
    title: str
    #: The `proctoring_settings` claim's value (None: the claim is left out).
    proctoring_settings: dict[str, Any] | None = None
    #: The Assessment Control actions offered in the `acs` claim (empty: no `acs` claim).
    acs_actions: tuple[str, ...] = ACS_ACTIONS


@dataclass
class Attempt:
    """One proctored attempt, from LtiStartProctoring on. `status` uses the ACS vocabulary."""

    key: str
    user: str
    resource_link: str
    number: int
    session_data: str
    status: str = "none"
    end_assessment_return: bool = False
    verified_user: dict[str, Any] | None = None
    answer: str | None = None
    extra_time: int = 0
    #: Accepted Assessment Control requests for this attempt, in order.
    controls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Pending:
    """A message the LMS will send once the tool answers its login initiation at /authorize."""

    message_type: str
    user: str
    context: str | None = None
    resource_link: str | None = None
    attempt: str | None = None
    #: Deep Linking's opaque `data`, which the tool must echo.
    data: str | None = None
    used: bool = False


@dataclass
class Received:
    """A request the LMS received: where, whether it accepted it and why not, and what it read."""

    endpoint: str
    accepted: bool
    reason: str
    detail: dict[str, Any]


@dataclass
class Issued:
    """An id_token the LMS sent to the tool through the browser."""

    message_type: str
    claims: dict[str, Any]
    id_token: str
    state: str
    redirect_uri: str


@dataclass
class Alteration:
    """How to spoil a message: claims replaced or removed, another key, other times."""

    overrides: dict[str, Any] = field(default_factory=dict)
    remove: Iterable[str] = ()
    sign_with: rsa.RSAPrivateKey | None = None
    kid: str | None = None
    expires_in: int = 300
    issued_at: int | None = None


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _PlatformConfig(LTI1P3PlatformConfAbstract):
    """The library's platform configuration for this LMS's one tool registration. A fresh one serves
    each request, so the tool's key set is fetched anew (the tool rotates its keys) and the library's
    per-message state is never shared between threads."""

    def init_platform_config(self, **kwargs: Any) -> None:
        self._lms: FakeLms = kwargs["lms"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        lms, tool = self._lms, self._lms.tool
        registration = (
            Registration()
            .set_iss(lms.issuer)
            .set_platform_private_key(private_key_pem(lms.key))
            .set_platform_public_key(public_key_pem(lms.key))
        )
        if tool is not None:
            registration.set_client_id(tool.client_id).set_deployment_id(tool.deployment_id)
            registration.set_oidc_login_url(tool.login_url).set_launch_url(tool.launch_url)
            registration.set_tool_key_set_url(tool.key_set_url)
            if tool.deep_link_url:
                registration.set_deeplink_launch_url(tool.deep_link_url)
        return registration


class _Request(Request):
    def build_metadata(self, request: Any) -> TRequest:
        return {"method": "POST", "form_data": dict(request), "get_data": {}, "headers": {}, "path": ""}


class _Login(OIDCLoginAbstract):
    """The library's third-party-initiated login; the hint names a pending message."""

    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    """The library's launch, signed by the LMS so that a test can spoil it on purpose."""

    def __init__(self, request: Request, config: _PlatformConfig, alteration: Alteration) -> None:
        super().__init__(request, config)
        self._lms = config._lms
        self._alteration = alteration
        self.message: dict[str, Any] = {}

    def generate_launch_request(self) -> LaunchData:
        message, state = self.get_launch_data()
        self.message = self._lms._altered(message, self._alteration)
        return {"state": state, "id_token": self._lms._sign(self.message, self._alteration)}

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class FakeLms:
    """The LMS. Start it, register the tool, add people, courses and links, then drive it with a
    browser (course pages) or directly (`login_url`, `id_token`). Everything it receives or refuses
    is in `received`; what it sent is in `issued`."""

    def __init__(
        self,
        *,
        key: rsa.RSAPrivateKey | None = None,
        forbid_framing: bool = False,
        require_session_cookie: bool = False,
        session_cookie_samesite: str = "Lax",
        name: str = "Fake LMS",
    ) -> None:
        self.key = key or new_private_key()
        self.kid: str = Registration.get_jwk(public_key_pem(self.key))["kid"]
        #: Serve the assessment with X-Frame-Options: DENY and frame-ancestors 'none'.
        self.forbid_framing = forbid_framing
        #: Refuse LtiStartAssessment unless the LMS's own session cookie came with it.
        self.require_session_cookie = require_session_cookie
        #: The session cookie's SameSite: "Lax" (browsers' default) or "None" (then also Secure), which
        #: LMSs that take LTI launches set so that cross-site posts carry it.
        if session_cookie_samesite not in ("Lax", "Strict", "None"):
            raise ValueError("session_cookie_samesite is Lax, Strict or None.")
        self.session_cookie_samesite = session_cookie_samesite
        self.name = name
        self.tool: Tool = None  # type: ignore[assignment]  # set by register_tool
        self.users: dict[str, User] = {}
        self.contexts: dict[str, Context] = {}
        self.resource_links: dict[str, ResourceLink] = {}
        self.attempts: dict[str, Attempt] = {}
        self.pending: dict[str, Pending] = {}
        self.received: list[Received] = []
        self.issued: list[Issued] = []
        #: Content items accepted from LtiDeepLinkingResponse, each with the context it was added to.
        self.content_items: list[dict[str, Any]] = []
        self.access_tokens: list[dict[str, Any]] = []
        self._tool_nonces: set[str] = set()
        self._jtis: set[str] = set()
        self._next_alteration: Alteration | None = None
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    # --- addresses -------------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def start_assessment_url(self) -> str:
        return f"{self.url}/start-assessment"

    @property
    def acs_url(self) -> str:
        return f"{self.url}/acs"

    @property
    def deep_link_return_url(self) -> str:
        return f"{self.url}/deep-link-return"

    def course_url(self, context: str, *, user: str) -> str:
        return f"{self.url}/course/{context}/?{urlencode({'user': user})}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLms:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- set-up --------------------------------------------------------------------------------------

    def register_tool(
        self,
        *,
        client_id: str,
        deployment_id: str,
        login_url: str,
        launch_url: str,
        key_set_url: str,
        redirect_uris: Iterable[str] | None = None,
        deep_link_url: str | None = None,
    ) -> Tool:
        """Register the tool; its redirect URIs default to its launch (and deep-link) URL."""
        uris = list(redirect_uris) if redirect_uris is not None else [launch_url]
        if redirect_uris is None and deep_link_url and deep_link_url not in uris:
            uris.append(deep_link_url)
        self.tool = Tool(client_id, deployment_id, login_url, launch_url, key_set_url, uris, deep_link_url)
        return self.tool

    def add_user(
        self, sub: str, *, name: str, email: str, roles: Iterable[str], given_name: str = "", family_name: str = ""
    ) -> User:
        first, _, last = name.partition(" ")
        user = User(sub, name, email, list(roles), given_name or first, family_name or last)
        self.users[sub] = user
        return user

    def add_context(self, id: str, *, label: str, title: str) -> Context:  # noqa: A002 - the claim's name
        self.contexts[id] = Context(id, label, title)
        return self.contexts[id]

    def add_resource_link(
        self,
        id: str,  # noqa: A002 - the claim's name
        *,
        context: str,
        title: str,
        proctoring_settings: dict[str, Any] | None = None,
        acs_actions: Iterable[str] = ACS_ACTIONS,
    ) -> ResourceLink:
        if context not in self.contexts:
            raise ValueError(f"No context {context!r}: add it first.")
        link = ResourceLink(id, context, title, proctoring_settings, tuple(acs_actions))
        self.resource_links[id] = link
        return link

    def start_attempt(self, resource_link: str, *, user: str) -> Attempt:
        """What the LMS does when a student starts a proctored item: a new attempt with fresh session_data."""
        with self._lock:
            number = 1 + sum(1 for a in self.attempts.values() if a.user == user and a.resource_link == resource_link)
            attempt = Attempt(secrets.token_urlsafe(12), user, resource_link, number, secrets.token_urlsafe(24))
            self.attempts[attempt.key] = attempt
            return attempt

    def attempt_for(self, *, user: str, resource_link: str, number: int | None = None) -> Attempt:
        """The user's attempt on a link (the latest unless a number is given)."""
        found = [a for a in self.attempts.values() if a.user == user and a.resource_link == resource_link]
        if number is not None:
            found = [a for a in found if a.number == number]
        if not found:
            raise LookupError(f"No attempt by {user!r} on {resource_link!r}.")
        return max(found, key=lambda a: a.number)

    # --- messages ------------------------------------------------------------------------------------

    def login_url(
        self,
        message_type: str,
        *,
        user: str,
        resource_link: str | None = None,
        context: str | None = None,
        attempt: Attempt | None = None,
    ) -> str:
        """The third-party-initiated login to the tool that starts a message (OIDC step one).
        LtiStartProctoring starts a new attempt unless one is given."""
        if message_type == START_PROCTORING and attempt is None:
            assert resource_link is not None, "LtiStartProctoring needs a resource link"
            attempt = self.start_attempt(resource_link, user=user)
        pending = self._pending(message_type, user=user, resource_link=resource_link, context=context, attempt=attempt)
        hint = secrets.token_urlsafe(16)
        with self._lock:
            self.pending[hint] = pending
        config = _PlatformConfig(lms=self)
        login = _Login(None, config)
        login.set_lti_message_hint(hint=hint)
        if message_type == DEEP_LINKING:
            login.set_deeplinking_launch_url()
        return str(login.initiate_login(user))

    def id_token(
        self,
        message_type: str = RESOURCE_LINK,
        *,
        user: str,
        resource_link: str | None = None,
        context: str | None = None,
        attempt: Attempt | None = None,
        nonce: str | None = None,
        overrides: dict[str, Any] | None = None,
        remove: Iterable[str] = (),
        sign_with: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        expires_in: int = 300,
        issued_at: int | None = None,
    ) -> str:
        """A message's id_token built exactly as /authorize builds it, then spoiled as asked, for the
        tests that post it to the tool themselves (bad signature, wrong aud, missing claim...)."""
        if message_type == START_PROCTORING and attempt is None:
            assert resource_link is not None, "LtiStartProctoring needs a resource link"
            attempt = self.start_attempt(resource_link, user=user)
        pending = self._pending(message_type, user=user, resource_link=resource_link, context=context, attempt=attempt)
        preflight = {
            "client_id": self.tool.client_id,
            "nonce": nonce or secrets.token_urlsafe(16),
            "state": "not-used",  # the library insists on one; an id_token carries none
            "redirect_uri": self._target(message_type),
        }
        alteration = Alteration(dict(overrides or {}), list(remove), sign_with, kid, expires_in, issued_at)
        launch = self._launch(pending, preflight, alteration)
        pending.used = True
        with self._lock:
            self.pending[secrets.token_urlsafe(16)] = pending
        return str(launch["id_token"])

    def alter_next_launch(
        self,
        *,
        overrides: dict[str, Any] | None = None,
        remove: Iterable[str] = (),
        sign_with: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        expires_in: int = 300,
        issued_at: int | None = None,
    ) -> None:
        """Spoil the next id_token /authorize sends, so a browser test can walk into a bad launch."""
        self._next_alteration = Alteration(dict(overrides or {}), list(remove), sign_with, kid, expires_in, issued_at)

    def jwks(self) -> dict[str, Any]:
        config = _PlatformConfig(lms=self)
        config.get_registration()
        return dict(config.get_jwks())

    @property
    def refusals(self) -> list[Received]:
        return [r for r in self.received if not r.accepted]

    @property
    def controls(self) -> list[dict[str, Any]]:
        """Every accepted Assessment Control request, in order."""
        return [r.detail for r in self.received if r.endpoint == "/acs" and r.accepted]

    # --- building and signing ------------------------------------------------------------------------

    def _pending(
        self,
        message_type: str,
        *,
        user: str,
        resource_link: str | None,
        context: str | None,
        attempt: Attempt | None,
    ) -> Pending:
        if self.tool is None:
            raise ValueError("Register the tool first.")
        if user not in self.users:
            raise ValueError(f"No user {user!r}.")
        if attempt is not None:
            resource_link = attempt.resource_link
        if resource_link is not None:
            if resource_link not in self.resource_links:
                raise ValueError(f"No resource link {resource_link!r}.")
            context = context or self.resource_links[resource_link].context
        if context is not None and context not in self.contexts:
            raise ValueError(f"No context {context!r}.")
        if message_type in (START_PROCTORING, END_ASSESSMENT) and attempt is None:
            raise ValueError(f"{message_type} needs an attempt.")
        data = secrets.token_urlsafe(12) if message_type == DEEP_LINKING else None
        return Pending(message_type, user, context, resource_link, attempt.key if attempt else None, data)

    def _target(self, message_type: str) -> str:
        if message_type == DEEP_LINKING and self.tool.deep_link_url:
            return self.tool.deep_link_url
        return self.tool.launch_url

    def _launch(self, pending: Pending, preflight: dict[str, str], alteration: Alteration) -> dict[str, Any]:
        """Build and sign the message for a pending launch with the library's launch flow."""
        launch = _Launch(_Request(preflight), _PlatformConfig(lms=self), alteration)
        user = self.users[pending.user]
        launch.set_user_data(user.sub, user.roles, full_name=user.name, email_address=user.email)
        claims: dict[str, Any] = {
            LTI + "message_type": pending.message_type,
            "given_name": user.given_name,
            "family_name": user.family_name,
            LTI + "tool_platform": {"guid": self.issuer, "name": self.name, "product_family_code": "fake-lms"},
        }
        if pending.context:
            context = self.contexts[pending.context]
            launch.set_launch_context_claim(context.id, [COURSE_OFFERING], context.title, context.label)
            launch.set_launch_presentation_claim(
                document_target="window", return_url=self.course_url(context.id, user=user.sub)
            )
        if pending.resource_link and pending.message_type != DEEP_LINKING:
            link = self.resource_links[pending.resource_link]
            launch.set_resource_link_claim(link.id, title=link.title)
        if pending.attempt:
            attempt = self.attempts[pending.attempt]
            claims[AP + "attempt_number"] = attempt.number
        if pending.message_type == START_PROCTORING:
            attempt, link = self.attempts[pending.attempt or ""], self.resource_links[pending.resource_link or ""]
            claims[AP + "start_assessment_url"] = self.start_assessment_url
            claims[AP + "session_data"] = attempt.session_data
            if link.proctoring_settings is not None:
                claims[AP + "proctoring_settings"] = link.proctoring_settings
            if link.acs_actions:
                claims[AP + "acs"] = {"assessment_control_url": self.acs_url, "actions": list(link.acs_actions)}
        if pending.message_type == DEEP_LINKING:
            settings = LtiDeepLinking(self.deep_link_return_url).get_lti_deep_linking_launch_claim(
                title="Invigil",
                description="Choose an Invigil exam or proctoring settings",
                accept_types={"ltiResourceLink"},
            )
            settings[DL + "deep_linking_settings"]["data"] = pending.data
            claims.update(settings)
        launch.set_extra_claims(claims)
        launch.set_launch_url(self._target(pending.message_type))
        result: dict[str, Any] = launch.lti_launch()
        result["claims"] = launch.message
        return result

    def _altered(self, message: dict[str, Any], alteration: Alteration) -> dict[str, Any]:
        issued_at = int(time.time()) if alteration.issued_at is None else alteration.issued_at
        message = {**message, "iat": issued_at, "exp": issued_at + alteration.expires_in, **alteration.overrides}
        for claim in alteration.remove:
            message.pop(claim, None)
        return message

    def _sign(self, message: dict[str, Any], alteration: Alteration, expiration: int | None = None) -> str:
        """The library's signing, given the key object: from PEM, each signature would cost 50 ms of key checks."""
        key = alteration.sign_with or self.key
        headers = {"kid": alteration.kid or self.kid}
        return Registration.encode_and_sign(message, key, headers=headers, expiration=expiration)

    # --- endpoints -----------------------------------------------------------------------------------

    def _record(self, endpoint: str, accepted: bool, reason: str = "", **detail: Any) -> None:
        self.received.append(Received(endpoint, accepted, reason, detail))

    def _authorize(self, params: dict[str, str]) -> str:
        """OIDC authorization: check the tool's auth request, answer with a form that posts the id_token."""
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none"}
        for name, value in expected.items():
            if params.get(name) != value:
                raise Refused(f"{name} must be {value!r}, not {params.get(name)!r}.")
        if params.get("client_id") != self.tool.client_id:
            raise Refused(f"Unknown client_id {params.get('client_id')!r}.", error="unauthorized_client")
        if params.get("redirect_uri") not in self.tool.redirect_uris:
            raise Refused(f"redirect_uri {params.get('redirect_uri')!r} is not registered for this tool.")
        pending = self.pending.get(params.get("lti_message_hint", ""))
        if pending is None:
            raise Refused("Unknown lti_message_hint: this LMS started no such launch.")
        if pending.used:
            raise Refused("This lti_message_hint was already used.")
        if params.get("login_hint") != pending.user:
            raise Refused("login_hint does not match the user who started this launch.", error="login_required")
        alteration, self._next_alteration = self._next_alteration or Alteration(), None
        try:
            launch = self._launch(pending, params, alteration)
        except PreflightRequestValidationException as exc:
            raise Refused("The auth request lacks a nonce, state or redirect_uri.") from exc
        pending.used = True
        self.issued.append(
            Issued(pending.message_type, launch["claims"], launch["id_token"], launch["state"], launch["launch_url"])
        )
        self._record("/authorize", True, message_type=pending.message_type, claims=launch["claims"])
        return _auto_post(launch["launch_url"], {"id_token": launch["id_token"], "state": launch["state"]})

    def _tool_message(self, token: str | None, message_type: str) -> tuple[_PlatformConfig, dict[str, Any]]:
        """A message the tool signed (LtiStartAssessment, LtiDeepLinkingResponse): the library checks the
        signature against the tool's key set and the expiry; this LMS adds iss, aud, iat, nonce and the rest."""
        if not token:
            raise Refused("The JWT form field is missing.")
        config = _PlatformConfig(lms=self)
        config.get_registration()
        try:
            claims = config.tool_validate_and_decode(token)
        except (LtiException, InvalidKeySetUrl, jwt.PyJWTError, ValueError) as exc:
            raise Refused(f"The JWT does not verify against the tool's key set: {exc}") from exc
        if claims.get("iss") != self.tool.client_id:
            raise Refused(f"iss must be the tool's client_id, not {claims.get('iss')!r}.")
        audience = claims.get("aud")
        if not (audience == self.issuer or (isinstance(audience, list) and self.issuer in audience)):
            raise Refused(f"aud must be this LMS's issuer {self.issuer!r}, not {audience!r}.")
        for claim in ("iat", "exp", "nonce"):
            if claim not in claims:
                raise Refused(f"The {claim} claim is missing.")
        if claims["iat"] > time.time() + LEEWAY:
            raise Refused("iat is in the future.")
        if claims["nonce"] in self._tool_nonces:
            raise Refused("This nonce was already used: the message is a replay.")
        self._tool_nonces.add(claims["nonce"])
        if claims.get(LTI + "message_type") != message_type:
            raise Refused(f"message_type must be {message_type!r}, not {claims.get(LTI + 'message_type')!r}.")
        if claims.get(LTI + "version") != "1.3.0":
            raise Refused(f"version must be '1.3.0', not {claims.get(LTI + 'version')!r}.")
        if claims.get(LTI + "deployment_id") != self.tool.deployment_id:
            raise Refused(f"Unknown deployment_id {claims.get(LTI + 'deployment_id')!r}.")
        return config, claims

    def _start_assessment(self, form: dict[str, str], session_user: str | None) -> str:
        _, claims = self._tool_message(form.get("JWT"), START_ASSESSMENT)
        for claim in (LTI + "resource_link", AP + "session_data", AP + "attempt_number"):
            if claim not in claims:
                raise Refused(f"The {claim} claim is missing.")
        link_id = (claims[LTI + "resource_link"] or {}).get("id")
        if link_id not in self.resource_links:
            raise Refused(f"Unknown resource_link id {link_id!r}.")
        if self.require_session_cookie and session_user is None:
            raise Refused("The LMS's session cookie did not come with this request: who is this student?", 403)
        waiting = [
            a
            for a in self.attempts.values()
            if a.resource_link == link_id and a.status == "none" and session_user in (None, a.user)
        ]
        if not waiting:
            raise Refused("No attempt on this resource link is waiting for LtiStartAssessment.", 409)
        echoed = [a for a in waiting if _same(a.session_data, claims[AP + "session_data"])]
        if not echoed:
            raise Refused("session_data does not echo what the LMS sent in LtiStartProctoring.")
        attempt = echoed[0]
        if not _same(attempt.number, claims[AP + "attempt_number"]):
            raise Refused("attempt_number does not echo what the LMS sent in LtiStartProctoring.")
        attempt.status = "running"
        attempt.end_assessment_return = claims.get(AP + "end_assessment_return") is True
        attempt.verified_user = claims.get(AP + "verified_user")
        self._record("/start-assessment", True, attempt=attempt.key, claims=claims, session_user=session_user)
        return _assessment_page(self.resource_links[link_id], attempt)

    def _submit_assessment(self, form: dict[str, str]) -> str | None:
        """The student submits the quiz: the attempt completes, and if the tool asked for it
        (end_assessment_return), the LMS starts LtiEndAssessment. Returns the page, or None to redirect."""
        attempt = self.attempts.get(form.get("attempt", ""))
        if attempt is None:
            raise Refused("Unknown attempt.", 404)
        if attempt.status != "running":
            raise Refused(f"This attempt is {attempt.status}; it cannot be submitted.", 409)
        attempt.status, attempt.answer = "complete", form.get("answer", "")
        self._record("/submit-assessment", True, attempt=attempt.key, answer=attempt.answer)
        if attempt.end_assessment_return:
            return None
        return _page("Submitted", "<p>Your answers were submitted.</p>")

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        """OAuth 2 client credentials with a signed JWT assertion (IMS Security Framework 4.1)."""
        missing = sorted(LTI_1P3_ACCESS_TOKEN_REQUIRED_CLAIMS - form.keys())
        if missing:
            raise Refused(f"Missing form fields: {', '.join(missing)}.")
        if form["grant_type"] != "client_credentials":
            raise Refused("grant_type must be client_credentials.", error="unsupported_grant_type")
        if form["client_assertion_type"] != CLIENT_ASSERTION_TYPE:
            raise Refused(f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}.")
        config = _PlatformConfig(lms=self)
        config.get_registration()
        try:
            assertion = config.tool_validate_and_decode(form["client_assertion"])
        except (LtiException, InvalidKeySetUrl, jwt.PyJWTError, ValueError) as exc:
            raise Refused(f"The client assertion does not verify: {exc}", 401, "invalid_client") from exc
        client_id = self.tool.client_id
        if assertion.get("iss") != client_id or assertion.get("sub") != client_id:
            raise Refused("The assertion's iss and sub must both be the client_id.", 401, "invalid_client")
        audience = assertion.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not {self.token_url, self.issuer} & set(audiences):
            raise Refused(f"The assertion's aud must be the token URL {self.token_url!r}.", 401, "invalid_client")
        for claim in ("exp", "iat", "jti"):
            if claim not in assertion:
                raise Refused(f"The assertion lacks {claim}.", 401, "invalid_client")
        if assertion["jti"] in self._jtis:
            raise Refused("The assertion's jti was already used.", 401, "invalid_client")
        self._jtis.add(assertion["jti"])
        granted = [scope for scope in form["scope"].split() if scope in GRANTABLE_SCOPES]
        if not granted:
            raise Refused(f"None of the scopes {form['scope']!r} can be granted.", error="invalid_scope")
        scope = " ".join(granted)
        # The token's shape is the library's own, so its validate_token can check it at /acs.
        token = self._sign({"sub": client_id, "iss": self.issuer, "scopes": scope}, Alteration(), TOKEN_LIFETIME)
        self.access_tokens.append({"access_token": token, "scope": scope})
        self._record("/token", True, scope=scope, assertion=assertion)
        return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME, "scope": scope}

    def _acs(self, authorization: str, content_type: str, body: bytes) -> dict[str, Any]:
        """Assessment Control: a bearer token with the ACS scope, the spec's JSON body, the attempt's status back."""
        if not authorization.startswith("Bearer "):
            raise Refused("A bearer token is required.", 401, "invalid_token")
        config = _PlatformConfig(lms=self)
        config.get_registration()
        try:
            allowed = config.validate_token(authorization.removeprefix("Bearer "), allowed_scopes=[ACS_SCOPE])
        except (LtiException, jwt.PyJWTError) as exc:
            raise Refused(f"The bearer token is not valid: {exc}", 401, "invalid_token") from exc
        if not allowed:
            raise Refused("The bearer token lacks the Assessment Control scope.", 403, "insufficient_scope")
        if content_type.split(";", maxsplit=1)[0].strip() != ACS_MEDIA_TYPE:
            raise Refused(f"Content-Type must be {ACS_MEDIA_TYPE}, not {content_type!r}.", 415)
        try:
            control = json.loads(body)
        except ValueError as exc:
            raise Refused("The body is not JSON.") from exc
        attempt, action = self._control_target(control)
        self._apply_control(attempt, action, control)
        attempt.controls.append(control)
        self._record("/acs", True, **control)
        reply: dict[str, Any] = {"status": attempt.status}
        if attempt.extra_time:
            reply["extra_time"] = attempt.extra_time
        return reply

    def _control_target(self, control: Any) -> tuple[Attempt, str]:
        if not isinstance(control, dict):
            raise Refused("The body must be a JSON object.")
        user, link = control.get("user"), control.get("resource_link")
        if not isinstance(user, dict) or not isinstance(user.get("sub"), str):
            raise Refused("user.sub is required.")
        if "iss" in user and user["iss"] != self.issuer:
            raise Refused("user.iss names another platform.")
        if not isinstance(link, dict) or not isinstance(link.get("id"), str):
            raise Refused("resource_link.id is required.")
        number = control.get("attempt_number")
        if not isinstance(number, int) or isinstance(number, bool):
            raise Refused("attempt_number must be an integer.")
        action = control.get("action")
        if action not in ACS_ACTIONS:
            raise Refused(f"action must be one of {', '.join(ACS_ACTIONS)}.")
        incident_time = control.get("incident_time")
        if not isinstance(incident_time, str) or not _is_datetime(incident_time):
            raise Refused("incident_time must be an ISO 8601 date and time.")
        severity = control.get("incident_severity")
        if severity is not None and not (isinstance(severity, int | float) and 0 <= severity <= 1):
            raise Refused("incident_severity must be a number from 0 to 1.")
        for text in ("reason_code", "reason_msg"):
            if text in control and not isinstance(control[text], str):
                raise Refused(f"{text} must be a string.")
        try:
            attempt = self.attempt_for(user=user["sub"], resource_link=link["id"], number=number)
        except LookupError as exc:
            raise Refused(str(exc), 404) from exc
        if action not in self.resource_links[link["id"]].acs_actions:
            raise Refused(f"This LMS did not offer the {action} action for this resource link.")
        return attempt, action

    def _apply_control(self, attempt: Attempt, action: str, control: dict[str, Any]) -> None:
        moves = {"pause": ({"running"}, "paused"), "resume": ({"paused"}, "running")}
        moves["terminate"] = ({"running", "paused"}, "terminated")
        if action in moves:
            sources, target = moves[action]
            if attempt.status not in sources:
                raise Refused(f"Cannot {action} an attempt that is {attempt.status}.", 409)
            attempt.status = target
        elif action == "update":
            extra = control.get("extra_time")
            if not isinstance(extra, int) or isinstance(extra, bool):
                raise Refused("update needs extra_time in seconds.")
            attempt.extra_time += extra
        elif attempt.status == "none":
            raise Refused("Cannot flag an attempt that has not started.", 409)

    def _deep_link_return(self, form: dict[str, str]) -> str:
        config, claims = self._tool_message(form.get("JWT"), DEEP_LINKING_RESPONSE)
        data = claims.get(DL + "data")
        request = next(
            (p for p in self.pending.values() if p.message_type == DEEP_LINKING and p.used and p.data == data), None
        )
        if data is None or request is None:
            raise Refused("The data claim does not echo a deep-linking request this LMS sent.")
        config.set_accepted_deeplinking_types(["ltiResourceLink"])
        try:
            items = config.validate_deeplinking_resp({"JWT": form["JWT"]})
        except (LtiDeepLinkingResponseException, LtiException, jwt.PyJWTError) as exc:
            raise Refused(str(exc)) from exc
        request.data = None  # one response per request
        for item in items:
            self.content_items.append({"context": request.context, **item})
        self._record("/deep-link-return", True, claims=claims, items=items)
        titles = "".join(f"<li>{html.escape(str(item.get('title', item.get('url', ''))))}</li>" for item in items)
        return _page("Content added", f"<p>{len(items)} item(s) added to the course.</p><ul>{titles}</ul>")

    def _course_page(self, context_id: str, user: str) -> str:
        context = self.contexts.get(context_id)
        if context is None or user not in self.users:
            raise Refused("No such course or user.", 404)
        sections = []
        for link in self.resource_links.values():
            if link.context != context_id:
                continue
            query = urlencode({"link": link.id, "user": user})
            sections.append(
                f"<section><h2>{html.escape(link.title)}</h2>"
                f'<a href="/launch/start-proctoring?{query}">Start proctored quiz</a> '
                f'<a href="/launch/resource-link?{query}">Open Invigil</a></section>'
            )
        add = urlencode({"context": context_id, "user": user})
        body = f'{"".join(sections)}<p><a href="/launch/deep-linking?{add}">Add Invigil content</a></p>'
        return _page(f"{context.label}: {context.title}", body)

    def _launch_from_course(self, kind: str, query: dict[str, str]) -> str:
        message_type = {
            "start-proctoring": START_PROCTORING,
            "resource-link": RESOURCE_LINK,
            "deep-linking": DEEP_LINKING,
        }.get(kind)
        if message_type is None:
            raise Refused("No such launch.", 404)
        try:
            url = self.login_url(
                message_type, user=query.get("user", ""), resource_link=query.get("link"), context=query.get("context")
            )
        except (ValueError, AssertionError) as exc:
            raise Refused(str(exc), 404) from exc
        self._record(f"/launch/{kind}", True, message_type=message_type, **query)
        return url

    def _end_assessment_login(self, attempt_key: str) -> str:
        attempt = self.attempts[attempt_key]
        return self.login_url(END_ASSESSMENT, user=attempt.user, attempt=attempt)


def _same(sent: Any, echoed: Any) -> bool:
    """An exact echo: equal value and equal JSON type (1 is not "1")."""
    return type(sent) is type(echoed) and sent == echoed


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


def _auto_post(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Launching…</title></head><body>'
        f'<form id="launch" method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('launch').submit()</script></body></html>"
    )


def _assessment_page(link: ResourceLink, attempt: Attempt) -> str:
    return _page(
        f"Quiz: {link.title}",
        f"<p>Attempt {attempt.number}</p>"
        '<form method="post" action="/submit-assessment">'
        f'<input type="hidden" name="attempt" value="{html.escape(attempt.key)}">'
        '<label for="answer">What is 6 × 7?</label> <input id="answer" name="answer" type="text"> '
        '<button type="submit">Submit</button></form>',
    )


def _handler_for(lms: FakeLms) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeLms/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            """Quiet: what matters is recorded on the FakeLms."""

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802 - the base class's name
            self._route("POST")

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/favicon.ico":
                # Browsers ask for it unprompted; it is no request to the LMS, so nothing is recorded.
                self.send_response(204)
                self.end_headers()
                return
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            urlencoded = (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded")
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()} if urlencoded else {}
            path = parts.path
            with lms._lock:
                try:
                    self._dispatch(method, path, query, form, body)
                except Refused as refusal:
                    self._refuse(path, refusal, query, form)
                except Exception as exc:  # noqa: BLE001 - a harness bug must show in the test, not hang it
                    self._refuse(path, Refused(f"The fake LMS failed: {exc!r}", 500, "server_error"), query, form)

        def _refuse(self, path: str, refusal: Refused, query: dict[str, str], form: dict[str, str]) -> None:
            lms._record(path, False, refusal.reason, status=refusal.status, query=query, form=form)
            if path in ("/token", "/acs"):
                self._json(refusal.status, {"error": refusal.error, "error_description": refusal.reason})
            else:
                reason = f"<p>{html.escape(refusal.reason)}</p>"
                self._html(refusal.status, _page("The LMS refused this request", reason))

        def _dispatch(self, method: str, path: str, query: dict[str, str], form: dict[str, str], body: bytes) -> None:
            if path == "/jwks" and method == "GET":
                self._json(200, lms.jwks())
            elif path == "/authorize":
                self._html(200, lms._authorize(query if method == "GET" else form))
            elif path == "/token" and method == "POST":
                self._json(200, lms._token(form))
            elif path == "/start-assessment" and method == "POST":
                self._html(200, lms._start_assessment(form, self._session_user()), framed=not lms.forbid_framing)
            elif path == "/submit-assessment" and method == "POST":
                page = lms._submit_assessment(form)
                if page is None:
                    self._redirect(lms._end_assessment_login(form["attempt"]))
                else:
                    self._html(200, page)
            elif path == "/acs" and method == "POST":
                reply = lms._acs(self.headers.get("Authorization", ""), self.headers.get("Content-Type", ""), body)
                self._json(200, reply, ACS_MEDIA_TYPE)
            elif path == "/deep-link-return" and method == "POST":
                self._html(200, lms._deep_link_return(form))
            elif path.startswith("/course/") and method == "GET":
                context = path.removeprefix("/course/").strip("/")
                user = query.get("user", "")
                self._html(200, lms._course_page(context, user), cookie=user)
            elif path.startswith("/launch/") and method == "GET":
                self._redirect(lms._launch_from_course(path.removeprefix("/launch/"), query))
            else:
                raise Refused(f"No {method} {path} here.", 404)

        def _session_user(self) -> str | None:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == SESSION_COOKIE and value in lms.users:
                    return value
            return None

        def _html(self, status: int, page: str, *, framed: bool = True, cookie: str | None = None) -> None:
            data = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if not framed:
                self.send_header("X-Frame-Options", "DENY")
                self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
            if cookie:
                same_site = lms.session_cookie_samesite
                secure = "; Secure" if same_site == "None" else ""
                self.send_header(
                    "Set-Cookie", f"{SESSION_COOKIE}={cookie}; Path=/; HttpOnly; SameSite={same_site}{secure}"
                )
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, payload: Any, content_type: str = "application/json") -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
