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
from django.views.decorators.http import require_GET, require_POST

from identity.faces import FaceProblem
from identity.models import IdentityProfile
from identity.services import (
    identity_enrol,
    identity_request_manual_check,
    identity_store_id_photo,
    identity_verify,
)

MAX_REFERENCE = 64
NO_REFERENCE = "Say which exam session this check is for."


def _off_thread(func: Any) -> Any:
    return database_sync_to_async(func, thread_sensitive=False)


def _problem(message: str, status: int = 422) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


async def _signed_in(request: HttpRequest) -> Any | None:
    user = await request.auser()
    return user if user.is_authenticated and user.is_active else None


def _reference(request: HttpRequest) -> str | None:
    value: Any = request.POST.get("reference")
    if value is None and request.content_type == "application/json":
        try:
            value = json.loads(request.body or b"{}").get("reference")
        except (ValueError, AttributeError):
            value = None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REFERENCE:
        return None
    return value


def own_profile_endpoint(view: Any) -> Any:
    """For the identity views: signed-in users only (403 otherwise, as JSON), and a FaceProblem
    becomes a 422 that says what to change. The view receives the user."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> JsonResponse:
        user = await _signed_in(request)
        if user is None:
            return _problem("Sign in first.", 403)
        try:
            response: JsonResponse = await view(request, user)
        except FaceProblem as exc:
            return _problem(str(exc))
        return response

    return wrapper


@require_GET
@own_profile_endpoint
async def identity_status(request: HttpRequest, user: Any) -> JsonResponse:
    profile = await IdentityProfile.objects.filter(user=user).afirst()
    return JsonResponse(
        {"enrolled": bool(profile and profile.enrolled), "has_id_photo": bool(profile and profile.id_photo_name)}
    )


@require_POST
@own_profile_endpoint
async def enrol(request: HttpRequest, user: Any) -> JsonResponse:
    frames = [upload.read() for upload in request.FILES.getlist("frames")]
    await _off_thread(identity_enrol)(user=user, frames=frames, request=request)
    return JsonResponse({"enrolled": True})


@require_POST
@own_profile_endpoint
async def id_photo(request: HttpRequest, user: Any) -> JsonResponse:
    upload = request.FILES.get("photo")
    if upload is None:
        raise FaceProblem("Take a picture of your photo ID first.")
    await _off_thread(identity_store_id_photo)(user=user, photo=upload.read(), request=request)
    return JsonResponse({"has_id_photo": True})


@require_POST
@own_profile_endpoint
async def verify(request: HttpRequest, user: Any) -> JsonResponse:
    reference = _reference(request)
    if reference is None:
        return _problem(NO_REFERENCE, 400)
    upload = request.FILES.get("frame")
    if upload is None:
        raise FaceProblem("No picture was sent.")
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


@require_POST
@own_profile_endpoint
async def manual_check(request: HttpRequest, user: Any) -> JsonResponse:
    reference = _reference(request)
    if reference is None:
        return _problem(NO_REFERENCE, 400)
    _, attestation = await _off_thread(identity_request_manual_check)(user=user, reference=reference, request=request)
    return JsonResponse({"attestation": attestation, "method": "manual_request"})
