"""OIDC login initiation and launch validation (LTI 1.3 core and the IMS Security Framework), and the
registry of message types a launch can carry.

Our own small code on PyJWT rather than pylti1p3, which refuses the proctoring message types. The checks
follow the Security Framework (5.1.3) as pylti1p3 and django-lti make them, plus a server-side state
bound to the browser and a server-side record of used nonces. Every failure is an LtiRefusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from lti.errors import LaunchInvalid
from lti.models import Deployment, LoginState, Platform, UsedNonce

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
VERSION = CLAIM + "version"
DEPLOYMENT_ID = CLAIM + "deployment_id"
TARGET_LINK_URI = CLAIM + "target_link_uri"
ROLES = CLAIM + "roles"
CONTEXT = CLAIM + "context"
RESOURCE_LINK = CLAIM + "resource_link"
CUSTOM = CLAIM + "custom"
LAUNCH_PRESENTATION = CLAIM + "launch_presentation"
DEEP_LINKING_SETTINGS = DL_CLAIM + "deep_linking_settings"

#: The message types of LTI 1.3 core, Deep Linking 2.0 and Proctoring Services 1.0. A type named here but
#: without a handler is refused as "not supported"; any other is refused as unknown.
KNOWN_MESSAGE_TYPES = frozenset(
    {
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
        "LtiStartProctoring",
        "LtiEndAssessment",
        "LtiSubmissionReviewRequest",
    }
)
#: Claims every launch must carry. ``sub`` is optional in the spec (anonymous launches), but Invigil
#: proctors a person, so it is required here.
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "nonce", "sub", MESSAGE_TYPE, VERSION, DEPLOYMENT_ID, ROLES)
LTI_VERSION = "1.3.0"
ALGORITHMS = ["RS256"]
#: Clock difference allowed between the LMS and Invigil when checking exp and iat.
LEEWAY_SECONDS = 60
#: How long a login may take between initiation and launch (the user may have to sign in to the LMS).
LOGIN_STATE_LIFETIME = timedelta(minutes=10)
#: How long the platform's key set is cached; an unknown kid refreshes it at once (after a short cooldown).
KEYSET_CACHE_SECONDS = 300
KEYSET_TIMEOUT_SECONDS = 5


#: Hosts a platform may use plain HTTP on: development and tests on one machine.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: The longest address Invigil keeps of what an LMS names.
MAX_URL = 1000


def web_address(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) address of at most MAX_URL characters, else None: where
    the LMS asks a browser to go or Invigil to post (never javascript:, data: or a relative path)."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("https", "http") and parts.netloc else None


def in_the_clear(url: str) -> bool:
    """Plain HTTP off loopback: a token or signed message sent there can be read on the way."""
    parts = urlsplit(url)
    return parts.scheme != "https" and parts.hostname not in LOOPBACK


@dataclass(frozen=True)
class Launch:
    """A launch whose token has been verified: who sent it, what it asks, and for whom."""

    platform: Platform
    deployment: Deployment
    claims: dict[str, Any]
    message_type: str
    sub: str
    roles: tuple[str, ...]
    context: dict[str, Any] | None = None
    resource_link: dict[str, Any] | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def context_id(self) -> str | None:
        return self.context["id"] if self.context else None

    @property
    def resource_link_id(self) -> str | None:
        return self.resource_link["id"] if self.resource_link else None

    def audit_context(self) -> dict[str, Any]:
        """What the audit log keeps of a launch: where it came from, never the token."""
        return {
            "issuer": self.platform.issuer,
            "client_id": self.platform.client_id,
            "deployment_id": self.deployment.deployment_id,
            "message_type": self.message_type,
            "context_id": self.context_id,
            "resource_link_id": self.resource_link_id,
        }


LaunchHandler = Callable[[HttpRequest, Launch], HttpResponse]


@dataclass(frozen=True)
class MessageHandler:
    handler: LaunchHandler
    #: Claims this message type must carry beyond REQUIRED_CLAIMS.
    requires: tuple[str, ...]


_HANDLERS: dict[str, MessageHandler] = {}


def message_handler(message_type: str, *, requires: tuple[str, ...] = ()) -> Callable[[LaunchHandler], LaunchHandler]:
    """Register the view that answers a verified launch of ``message_type``; modules that register are
    imported in LtiConfig.ready()."""
    if message_type not in KNOWN_MESSAGE_TYPES:
        raise ValueError(f"{message_type!r} is not an LTI message type Invigil knows.")

    def register(handler: LaunchHandler) -> LaunchHandler:
        if message_type in _HANDLERS:
            raise ValueError(f"{message_type} already has a handler: {_HANDLERS[message_type].handler!r}.")
        _HANDLERS[message_type] = MessageHandler(handler=handler, requires=requires)
        return handler

    return register


def handler_for(message_type: str) -> MessageHandler:
    """The registered handler; LaunchInvalid for a type Invigil does not know or does not support yet."""
    if message_type not in KNOWN_MESSAGE_TYPES:
        raise LaunchInvalid(
            f"The LMS sent a message type Invigil does not know ({message_type[:80]!r}).",
            reason="unknown_message_type",
            message_type=message_type[:80],
        )
    if message_type not in _HANDLERS:
        raise LaunchInvalid(
            f"Invigil does not support {message_type} launches yet. Ask the LMS's administrator to use a "
            "link to an Invigil exam instead.",
            reason="unsupported_message_type",
            message_type=message_type,
        )
    return _HANDLERS[message_type]


# --- Login initiation ----------------------------------------------------------------------------


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def state_cookie_name(state: str, *, secure: bool) -> str:
    """One cookie per login in progress, so two launches in two tabs do not undo each other. Over HTTPS the
    __Host- prefix keeps it to this host."""
    return ("__Host-" if secure else "") + "invigil-lti-" + state


@dataclass(frozen=True)
class LoginRedirect:
    """Where to send the browser, and the cookie that binds the login to it."""

    url: str
    cookie_name: str
    cookie_value: str


def _platform_for(issuer: str, client_id: str) -> Platform:
    platforms = Platform.objects.filter(issuer=issuer, active=True)
    if client_id:
        platforms = platforms.filter(client_id=client_id)
    found = list(platforms[:2])
    if not found:
        raise LaunchInvalid(
            "This LMS is not registered with Invigil (unknown issuer or client id). Ask Invigil's administrator "
            "to register it.",
            reason="unknown_platform",
            issuer=issuer[:255],
            client_id=client_id[:255],
        )
    if len(found) > 1:
        raise LaunchInvalid(
            "This LMS has several registrations in Invigil and did not say which one (client_id). Ask the LMS's "
            "administrator to send the client id with the login.",
            reason="ambiguous_platform",
            issuer=issuer[:255],
        )
    return found[0]


def login_start(request: HttpRequest, params: dict[str, str]) -> LoginRedirect:
    """Third-party initiated login: check who asks, remember a state and nonce, and send the browser to the
    platform's authorisation endpoint."""
    issuer, client_id = params.get("iss", ""), params.get("client_id", "")
    login_hint, target_link_uri = params.get("login_hint", ""), params.get("target_link_uri", "")
    if not issuer or not login_hint or not target_link_uri:
        raise LaunchInvalid(
            "The LMS's login request lacks its issuer, login hint or target link.",
            reason="login_missing_parameter",
            issuer=issuer[:255],
        )
    platform = _platform_for(issuer, client_id)
    deployment_id = params.get("lti_deployment_id", "")
    if deployment_id and not platform.deployments.filter(deployment_id=deployment_id).exists():
        raise LaunchInvalid(
            "This deployment of Invigil is not registered for this LMS. Ask Invigil's administrator to add it.",
            reason="unknown_deployment",
            issuer=issuer,
            client_id=platform.client_id,
            deployment_id=deployment_id[:255],
        )
    target = urlsplit(target_link_uri)
    if target.scheme not in ("http", "https") or target.netloc != request.get_host():
        raise LaunchInvalid(
            "The LMS asked to launch a link that is not on this Invigil server.",
            reason="foreign_target_link",
            issuer=issuer,
            client_id=platform.client_id,
        )
    state, nonce, browser_token = (secrets.token_urlsafe(32) for _ in range(3))
    LoginState.objects.create(
        state=state,
        nonce=nonce,
        platform=platform,
        browser_hash=_hash(browser_token),
        expires_at=timezone.now() + LOGIN_STATE_LIFETIME,
    )
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": request.build_absolute_uri(reverse("lti_launch")),
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if urlsplit(platform.auth_login_url).query else "?"
    return LoginRedirect(
        url=platform.auth_login_url + separator + urlencode(query),
        cookie_name=state_cookie_name(state, secure=request.is_secure()),
        cookie_value=browser_token,
    )


# --- Launch validation ---------------------------------------------------------------------------


def _consume_state(request: HttpRequest, state: str) -> LoginState:
    """The login this launch answers: known, unexpired, started in this browser, and used only now."""
    login = LoginState.objects.select_related("platform").filter(state=state).first() if state else None
    if login is None:
        raise LaunchInvalid(
            "This launch does not answer a login Invigil started. Go back to the LMS and open the link again.",
            reason="unknown_state",
        )
    cookie = request.COOKIES.get(state_cookie_name(state, secure=request.is_secure()), "")
    if not cookie or not hmac.compare_digest(_hash(cookie), login.browser_hash):
        raise LaunchInvalid(
            "This launch was started in another browser, or the browser refused Invigil's cookie. Open the link "
            "from the LMS again in this browser (over HTTPS, with cookies allowed for Invigil).",
            reason="state_not_bound_to_browser",
            issuer=login.platform.issuer,
        )
    now = timezone.now()
    taken = LoginState.objects.filter(pk=login.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not taken:
        raise LaunchInvalid(
            "This launch was already used, or took too long. Go back to the LMS and open the link again.",
            reason="state_used_or_expired",
            issuer=login.platform.issuer,
        )
    return login


@lru_cache(maxsize=64)
def _key_client(keyset_url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(keyset_url, cache_keys=True, lifespan=KEYSET_CACHE_SECONDS, timeout=KEYSET_TIMEOUT_SECONDS)


def _verified_claims(token: str, platform: Platform) -> dict[str, Any]:
    """The id_token's claims once its signature, issuer, audience and times check out."""
    where = {"issuer": platform.issuer, "client_id": platform.client_id}
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise LaunchInvalid("The LMS's launch token is not a JWT.", reason="malformed_token", **where) from None
    if header.get("alg") not in ALGORITHMS:
        raise LaunchInvalid(
            "The LMS signed the launch with an algorithm Invigil does not accept (RS256 only).",
            reason="bad_algorithm",
            **where,
        )
    try:
        key = _key_client(platform.keyset_url).get_signing_key(str(header.get("kid", "")))
    except jwt.PyJWKClientConnectionError:
        raise LaunchInvalid(
            "Invigil could not fetch the LMS's public keys to check the launch. Try again in a minute; if it "
            "persists, tell Invigil's administrator.",
            reason="keyset_unavailable",
            **where,
        ) from None
    except jwt.PyJWKClientError:
        raise LaunchInvalid(
            "The launch was signed with a key the LMS does not publish.", reason="unknown_key", **where
        ) from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            audience=platform.client_id,
            issuer=platform.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.InvalidSignatureError:
        raise LaunchInvalid("The launch's signature does not check out.", reason="bad_signature", **where) from None
    except jwt.ExpiredSignatureError:
        raise LaunchInvalid(
            "The launch has expired. Go back to the LMS and open the link again.", reason="expired", **where
        ) from None
    except jwt.ImmatureSignatureError:
        raise LaunchInvalid(
            "The launch was issued in the future; the LMS's clock may be wrong.", reason="not_yet_valid", **where
        ) from None
    except jwt.InvalidIssuerError:
        raise LaunchInvalid(
            "The launch came from an issuer other than the LMS that started the login.",
            reason="wrong_issuer",
            **where,
        ) from None
    except jwt.InvalidAudienceError:
        raise LaunchInvalid(
            "The launch was not meant for Invigil (audience).", reason="wrong_audience", **where
        ) from None
    except jwt.MissingRequiredClaimError as error:
        raise LaunchInvalid(
            f"The launch lacks the {error.claim} claim.", reason="missing_claim", claim=error.claim, **where
        ) from None
    except jwt.PyJWTError:
        raise LaunchInvalid("The launch's token could not be read.", reason="malformed_token", **where) from None
    audience = claims["aud"]
    authorized_party = claims.get("azp")
    if (isinstance(audience, list) and len(audience) > 1 and authorized_party is None) or (
        authorized_party is not None and authorized_party != platform.client_id
    ):
        raise LaunchInvalid("The launch was meant for another tool (azp).", reason="wrong_authorized_party", **where)
    return claims


def _claim(claims: dict[str, Any], name: str, kind: type, where: dict[str, Any]) -> Any:
    value = claims.get(name)
    if value is None or value == "":
        raise LaunchInvalid(
            f"The launch lacks the {name.rsplit('/', 1)[-1]} claim.", reason="missing_claim", claim=name, **where
        )
    if not isinstance(value, kind):
        raise LaunchInvalid(
            f"The launch's {name.rsplit('/', 1)[-1]} claim is malformed.", reason="malformed_claim", claim=name, **where
        )
    return value


def _object_with_id(claims: dict[str, Any], name: str, where: dict[str, Any]) -> dict[str, Any] | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise LaunchInvalid(
            f"The launch's {name.rsplit('/', 1)[-1]} claim has no id.", reason="malformed_claim", claim=name, **where
        )
    return value


def _record_nonce(platform: Platform, nonce: str, expires: datetime, where: dict[str, Any]) -> None:
    try:
        with transaction.atomic():
            UsedNonce.objects.create(platform=platform, nonce=nonce[:255], expires_at=expires)
    except IntegrityError:
        raise LaunchInvalid(
            "This launch was already used (its nonce was seen before). Go back to the LMS and open the link again.",
            reason="replayed_nonce",
            **where,
        ) from None


def validate_launch(request: HttpRequest) -> Launch:
    """Check a launch POST (id_token and state) from end to end; return what it says, or raise LaunchInvalid.
    Nothing is created but the record that its state and nonce are used."""
    login = _consume_state(request, request.POST.get("state", ""))
    platform = login.platform
    if not platform.active:
        raise LaunchInvalid(
            "Invigil no longer accepts launches from this LMS. Ask Invigil's administrator.",
            reason="platform_inactive",
            issuer=platform.issuer,
            client_id=platform.client_id,
        )
    token = request.POST.get("id_token", "")
    if not token:
        raise LaunchInvalid("The LMS sent no launch token.", reason="missing_token", issuer=platform.issuer)
    claims = _verified_claims(token, platform)
    where: dict[str, Any] = {"issuer": platform.issuer, "client_id": platform.client_id}
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise LaunchInvalid(
                f"The launch lacks the {name.rsplit('/', 1)[-1]} claim.", reason="missing_claim", claim=name, **where
            )
    nonce = _claim(claims, "nonce", str, where)
    if not hmac.compare_digest(nonce.encode(), login.nonce.encode()):
        raise LaunchInvalid(
            "The launch does not answer this login (nonce). Go back to the LMS and open the link again.",
            reason="nonce_mismatch",
            **where,
        )
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC) + timedelta(seconds=LEEWAY_SECONDS)
    _record_nonce(platform, nonce, expires, where)
    deployment_id = _claim(claims, DEPLOYMENT_ID, str, where)
    where["deployment_id"] = deployment_id[:255]
    deployment = platform.deployments.filter(deployment_id=deployment_id).first()
    if deployment is None:
        raise LaunchInvalid(
            "This deployment of Invigil is not registered for this LMS. Ask Invigil's administrator to add it.",
            reason="unknown_deployment",
            **where,
        )
    if claims.get(VERSION) != LTI_VERSION:
        raise LaunchInvalid(
            f"The launch is not LTI {LTI_VERSION}.", reason="wrong_version", version=str(claims.get(VERSION)), **where
        )
    message_type = _claim(claims, MESSAGE_TYPE, str, where)
    handler = handler_for(message_type)
    for name in handler.requires:
        _claim(claims, name, object, where)
    roles = _claim(claims, ROLES, list, where)
    if not all(isinstance(role, str) for role in roles):
        raise LaunchInvalid("The launch's roles claim is malformed.", reason="malformed_claim", claim=ROLES, **where)
    custom = claims.get(CUSTOM) or {}
    if not isinstance(custom, dict):
        raise LaunchInvalid("The launch's custom claim is malformed.", reason="malformed_claim", claim=CUSTOM, **where)
    return Launch(
        platform=platform,
        deployment=deployment,
        claims=claims,
        message_type=message_type,
        sub=_claim(claims, "sub", str, where),
        roles=tuple(roles),
        context=_object_with_id(claims, CONTEXT, where),
        resource_link=_object_with_id(claims, RESOURCE_LINK, where),
        custom=custom,
    )


def login_states_purge(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete login states and used nonces that can no longer matter (expired); returns how many of each."""
    now = now or timezone.now()
    states, _ = LoginState.objects.filter(expires_at__lt=now).delete()
    nonces, _ = UsedNonce.objects.filter(expires_at__lt=now).delete()
    return states, nonces
