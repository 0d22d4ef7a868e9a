"""JSON endpoints the exam page calls for the identity steps.

Async views: face detection takes up to a second of CPU, and Django runs every sync view of a Daphne
process on one shared thread, so a sync view would stall every other student's autosave meanwhile.
The work runs on a pool thread instead. Every user acts on their own profile only, so the one rule
is: signed in. Uploads stay in memory (settings allow no temporary upload files).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identity.consent import biometric_consent_latest, biometric_notice_current
from identity.models import IdentityCheck, IdentityProfile
from identity.services import (
    FaceRefused,
    biometric_consent_answer,
    identity_enrol,
    identity_manual_check_state,
    identity_request_manual_check,
    identity_store_id_photo,
    identity_verify,
)
from proctor.errors import Invalid, NotAllowed
from proctor.throttling import throttle_wait, too_many_message

MAX_REFERENCE = 64
NO_REFERENCE = "Say which exam session this check is for."


def _off_thread(func: Any) -> Any:
    return database_sync_to_async(func, thread_sensitive=False)


async def _signed_in(request: HttpRequest) -> Any | None:
    user = await request.auser()
    return user if user.is_authenticated and user.is_active else None


def _json_field(request: HttpRequest, name: str) -> Any:
    value: Any = request.POST.get(name)
    if value is None and request.content_type == "application/json":
        try:
            value = json.loads(request.body or b"{}").get(name)
        except (ValueError, AttributeError):
            value = None
    return value


def _reference(request: HttpRequest) -> str | None:
    value = _json_field(request, "reference")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REFERENCE:
        return None
    return value


def own_profile_endpoint(view: Any) -> Any:
    """For the identity views: signed-in users only (403 otherwise, as JSON). The view receives the
    user. Its refusals (a face step or a manual check that cannot be made: 422 saying what to change;
    a step that needs the agreement to face matching: 409) answer through proctor.refusals."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> JsonResponse:
        user = await _signed_in(request)
        if user is None:
            raise NotAllowed("Sign in first.")
        response: JsonResponse = await view(request, user)
        return response

    return wrapper


def upload_throttled(view: Any) -> Any:
    """For the identity uploads, inside ``own_profile_endpoint``: each costs up to a second of face
    detection, so a user may send only so many a minute (429 past that, before any work is done)."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, user: Any) -> JsonResponse:
        wait = throttle_wait(scope="identity_upload", user_id=user.pk)
        if wait is not None:
            response = JsonResponse({"detail": too_many_message(wait)}, status=429)
            response["Retry-After"] = str(wait)
            return response
        result: JsonResponse = await view(request, user)
        return result

    return wrapper


@require_GET
@own_profile_endpoint
async def identity_status(request: HttpRequest, user: Any) -> JsonResponse:
    profile = await IdentityProfile.objects.filter(user=user).afirst()
    latest = await _off_thread(biometric_consent_latest)(user_id=user.pk)
    notice = await _off_thread(biometric_notice_current)()
    return JsonResponse(
        {
            "enrolled": bool(profile and profile.enrolled),
            "has_id_photo": bool(profile and profile.id_photo_name),
            "face_matching": {
                "agreed": bool(latest and latest.in_force),
                "answer": (latest.decision if latest.withdrawn_at is None else "withdrawn") if latest else None,
                "version": latest.notice_version if latest else None,
                "notice": {"version": notice.version, "text": notice.text} if notice else None,
            },
        }
    )


@require_POST
@own_profile_endpoint
async def face_matching_answer(request: HttpRequest, user: Any) -> JsonResponse:
    """The student agrees to face matching, or declines it, for the notice version they were shown."""
    version, agreed = _json_field(request, "version"), _json_field(request, "agreed")
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(agreed, str) and agreed in ("true", "false"):
        agreed = agreed == "true"
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(agreed, bool):
        raise Invalid("Say which notice version you read (version) and whether you agree (agreed: true or false).")
    answer = await _off_thread(biometric_consent_answer)(
        user=user, notice_version=version, agreed=agreed, request=request
    )
    return JsonResponse({"agreed": answer.in_force, "version": answer.notice_version})


@require_POST
@own_profile_endpoint
@upload_throttled
async def enrol(request: HttpRequest, user: Any) -> JsonResponse:
    frames = [upload.read() for upload in request.FILES.getlist("frames")]
    await _off_thread(identity_enrol)(user=user, frames=frames, request=request)
    return JsonResponse({"enrolled": True})


@require_POST
@own_profile_endpoint
@upload_throttled
async def id_photo(request: HttpRequest, user: Any) -> JsonResponse:
    upload = request.FILES.get("photo")
    if upload is None:
        raise FaceRefused("Take a picture of your photo ID first.")
    await _off_thread(identity_store_id_photo)(user=user, photo=upload.read(), request=request)
    return JsonResponse({"has_id_photo": True})


@require_POST
@own_profile_endpoint
@upload_throttled
async def verify(request: HttpRequest, user: Any) -> JsonResponse:
    reference = _reference(request)
    if reference is None:
        raise Invalid(NO_REFERENCE)
    upload = request.FILES.get("frame")
    if upload is None:
        raise FaceRefused("No picture was sent.")
    check, attestation = await _off_thread(identity_verify)(
        user=user, frame=upload.read(), reference=reference, request=request
    )
    body: dict[str, Any] = {
        "matched": check.matched,
        "distance": round(check.distance or 0, 3),
        "attestation": attestation,
    }
    if not check.matched:
        body["detail"] = "Your face did not match the one you enrolled. Check your lighting and try again."
    return JsonResponse(body)


def _manual_state(check: IdentityCheck | None, attestation: str | None) -> dict[str, Any]:
    """What the exam page shows while the student waits: the decision, and the person's reason once
    decided (the student sees why); the attestation only once a person confirmed."""
    return {
        "decision": check.decision if check is not None else None,
        "decision_label": check.get_decision_display() if check is not None else "",
        "reason": check.decision_reason if check is not None else "",
        "attestation": attestation,
    }


@require_http_methods(["GET", "POST"])
@own_profile_endpoint
async def manual_check(request: HttpRequest, user: Any) -> JsonResponse:
    """POST asks a person to check the photo ID for a session (``reference``); GET, with the reference in
    the query, tells the waiting page where that check stands."""
    reference = _reference(request) if request.method == "POST" else request.GET.get("reference", "")
    if not reference or len(reference) > MAX_REFERENCE:
        raise Invalid(NO_REFERENCE)
    if request.method == "POST":
        check, attestation = await _off_thread(identity_request_manual_check)(
            user=user, reference=reference, request=request
        )
    else:
        check, attestation = await _off_thread(identity_manual_check_state)(user=user, reference=reference)
    return JsonResponse(_manual_state(check, attestation))
