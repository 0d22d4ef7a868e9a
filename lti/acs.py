"""The Assessment Control Service of IMS LTI Proctoring Services, the tool's side: a person at Invigil
flags, pauses, resumes or ends an attempt at the LMS's assessment, and a concern reviewers confirmed can
be reported to the LMS as a flag. Never a machine: every request names the person and their reason.

The LMS's token endpoint gives Invigil an access token for the control scope (OAuth 2 client credentials,
authenticated by an assertion Invigil signs, as the IMS Security Framework says); the control is a JSON
request to the attempt's assessment_control_url, and the LMS answers with the attempt's status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django import forms
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from analysis.models import Flag
from exams.models import ExamSession
from lti.keys import sign
from lti.models import ControlAction, ControlOutcome, ControlRequest, Platform, ProctoringAttempt
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Conflict, Unprocessable
from review.models import FlagDecision, Verdict

SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
CONTENT_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TIMEOUT_SECONDS = 10
#: The LMS reads incident_severity as a number from 0 to 1.
SEVERITY = {"info": 0.1, "low": 0.3, "medium": 0.6, "high": 0.9}
MAX_REASON = 500


class ControlUnavailable(Conflict):
    """The LMS did not offer this control for the attempt (no Assessment Control Service, or not this action)."""


class ControlFailed(Unprocessable):
    """The LMS could not be reached, or refused the control; the request is recorded either way."""


def _token_cache_key(platform: Platform) -> str:
    return f"lti:acs-token:{platform.pk}:{platform.client_id}"


def access_token(platform: Platform) -> str:
    """A bearer token for the control scope, reused until shortly before it expires."""
    cached = cache.get(_token_cache_key(platform))
    if cached:
        return str(cached)
    now = timezone.now()
    assertion = sign(
        {
            "iss": platform.client_id,
            "sub": platform.client_id,
            "aud": platform.token_audience or platform.auth_token_url,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=5)).timestamp()),
            "jti": secrets.token_urlsafe(24),
        }
    )
    try:
        response = requests.post(
            platform.auth_token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": SCOPE,
            },
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise ControlFailed(f"The LMS's token endpoint could not be reached ({type(exc).__name__}).") from exc
    body = _json(response)
    token = body.get("access_token")
    if response.status_code != 200 or not isinstance(token, str):
        raise ControlFailed(
            f"The LMS refused Invigil a token for assessment control (HTTP {response.status_code}"
            f"{': ' + str(body.get('error')) if body.get('error') else ''})."
        )
    granted = str(body.get("scope", SCOPE)).split()
    if SCOPE not in granted:
        raise ControlFailed("The LMS did not grant Invigil the assessment control scope.")
    expires_in = body.get("expires_in")
    lifetime = int(expires_in) if isinstance(expires_in, int) and expires_in > 0 else 3600
    cache.set(_token_cache_key(platform), token, max(lifetime - 60, 1))
    return token


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Incident:
    at: datetime
    severity: float | None = None


def _incident_of(session: ExamSession, flag: Flag | None) -> Incident:
    if flag is None or session.started_at is None:
        return Incident(at=timezone.now())
    return Incident(at=session.started_at + timedelta(seconds=flag.start_seconds), severity=SEVERITY.get(flag.severity))


def control_send(
    *,
    attempt: ProctoringAttempt,
    action: str,
    reason: str,
    actor: Any,
    flag: Flag | None = None,
    request: HttpRequest | None = None,
) -> ControlRequest:
    """Send one control to the LMS and record it, whatever the LMS answers. Refused, sending and recording
    nothing, when the LMS did not offer the action; ControlFailed (recorded) when it could not be done."""
    if not attempt.acs_url:
        raise ControlUnavailable("The LMS did not offer assessment control for this attempt.")
    if action not in attempt.acs_actions:
        offered = ", ".join(attempt.acs_actions) or "nothing"
        raise ControlUnavailable(f"The LMS does not accept “{action}” for this attempt (it accepts {offered}).")
    reason = reason.strip()[:MAX_REASON]
    incident = _incident_of(attempt.session, flag)
    body: dict[str, Any] = {
        "user": {"iss": attempt.platform.issuer, "sub": attempt.sub},
        "resource_link": {"id": attempt.resource_link_id},
        "attempt_number": attempt.attempt_number,
        "action": action,
        "incident_time": incident.at.isoformat(timespec="seconds"),
        "reason_code": f"invigil.{action}",
        "reason_msg": reason,
    }
    if incident.severity is not None:
        body["incident_severity"] = incident.severity
    sent = ControlRequest(
        attempt=attempt,
        action=action,
        reason=reason,
        incident_time=incident.at,
        severity=incident.severity,
        requested_by=actor,
    )
    problem = None
    try:
        token = access_token(attempt.platform)
        response = requests.post(
            attempt.acs_url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            timeout=TIMEOUT_SECONDS,
        )
    except ControlFailed as failed:
        sent.outcome, problem = ControlOutcome.FAILED, str(failed)
    except requests.RequestException as exc:
        sent.outcome, problem = ControlOutcome.FAILED, f"The LMS could not be reached ({type(exc).__name__})."
    else:
        answer = _json(response)
        sent.lms_status = str(answer.get("status", ""))[:60]
        if 200 <= response.status_code < 300:
            sent.outcome = ControlOutcome.ACCEPTED
        else:
            sent.outcome = ControlOutcome.REFUSED
            problem = (
                f"The LMS refused it (HTTP {response.status_code}{': ' + sent.lms_status if sent.lms_status else ''})."
            )
            if response.status_code == 401:
                cache.delete(_token_cache_key(attempt.platform))
    sent.problem = (problem or "")[:500]
    sent.save()
    audit_record(
        actor=actor,
        action=AuditAction.LTI_CONTROL,
        target=attempt.session,
        request=request,
        detail={
            "action": action,
            "outcome": sent.outcome,
            "lms_status": sent.lms_status,
            "flag": flag.pk if flag else None,
        },
    )
    if problem:
        raise ControlFailed(problem)
    return sent


def confirmed_flags(session: ExamSession) -> list[tuple[Flag, FlagDecision]]:
    """The session's flags whose latest decision by a reviewer is "confirmed", with that decision."""
    latest: dict[int, FlagDecision] = {}
    for decision in (
        FlagDecision.objects.filter(flag__session=session).select_related("flag").order_by("decided_at", "id")
    ):
        latest[decision.flag_id] = decision
    return [(d.flag, d) for d in latest.values() if d.verdict == Verdict.CONFIRMED]


def flag_reason(flag: Flag, decision: FlagDecision) -> str:
    return f"{flag.get_kind_display()}, confirmed by a reviewer ({decision.reviewer_name}): {decision.note}"


class ControlForm(forms.Form):
    """One control, as a person asks for it: the action the LMS offered, and why. A confirmed concern can be
    chosen instead of a reason: its reviewer's words are sent."""

    action = forms.ChoiceField(label="What the LMS should do")
    flag = forms.TypedChoiceField(
        label="Report a concern reviewers confirmed", required=False, coerce=int, empty_value=None
    )
    reason = forms.CharField(
        label="Why",
        required=False,
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The LMS shows this to its staff beside the attempt.",
    )

    def __init__(self, *args: Any, attempt: ProctoringAttempt, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempt = attempt
        offered = [a for a in ControlAction.values if a in attempt.acs_actions]
        action_field = self.fields["action"]
        assert isinstance(action_field, forms.ChoiceField)
        action_field.choices = [(a, ControlAction(a).label) for a in offered]
        self.confirmed = {flag.pk: (flag, decision) for flag, decision in confirmed_flags(attempt.session)}
        flag_field = self.fields["flag"]
        assert isinstance(flag_field, forms.ChoiceField)
        flag_field.choices = [("", "None")] + [
            (pk, f"{flag.get_kind_display()} at {flag.start_seconds:.0f} s") for pk, (flag, _) in self.confirmed.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("flag")
        if chosen is not None:
            if data.get("action") != ControlAction.FLAG:
                self.add_error("flag", "A confirmed concern is reported with the action “Flag the attempt”.")
            else:
                flag, decision = self.confirmed[chosen]
                data["flag_object"] = flag
                data["reason"] = data.get("reason") or flag_reason(flag, decision)
        if not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why: the LMS's staff read it, and the audit log keeps it.")
        return data
