"""The student's own data: what Invigil holds about them, a copy of it, and deleting their identity
profile. Every page here is about the signed-in user and no one else: there is no id in the URL to
reach another person's data, so being signed in is the whole of the authorisation. The data inventory
is for admins (privacy officers), decided by exams.permissions like every other role."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from exams.permissions import is_admin
from identity.consent import BiometricConsentRequired
from identity.selectors import identity_id_photo
from identity.services import biometric_consent_withdraw
from privacy.export import my_data_export
from privacy.inventory import INVENTORY, LIBRARIES, RETENTION_MEANING
from privacy.selectors import identity_profile_of, my_data
from privacy.services import ProfileDeleteRefused, identity_profile_delete
from proctor.crypto import DecryptionError
from proctor.streaming import private, streaming_response


@login_required
@require_GET
def my_data_page(request: HttpRequest) -> HttpResponse:
    response = render(request, "privacy/my_data.html", {"data": my_data(request.user)})
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@require_GET
def my_id_photo(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The student's own photo ID, decrypted for them to see; audited like any read of it."""
    profile = identity_profile_of(request.user)
    if profile is None or not profile.id_photo_name:
        raise Http404("Invigil holds no photo ID for you.")
    try:
        jpeg = identity_id_photo(profile=profile, purpose="my data page", actor=request.user, request=request)
    except (DecryptionError, OSError) as exc:
        raise Http404("Your photo ID can no longer be shown: it was deleted or is damaged.") from exc
    return private(HttpResponse(jpeg, content_type="image/jpeg"))


@login_required
@require_POST
def my_data_download(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """A zip of everything, decrypted, streamed as it is made. POST, so that nothing fetches it by
    following a link."""
    name = f"invigil-my-data-{request.user.get_username()}-{timezone.localdate():%Y-%m-%d}.zip"
    chunks = my_data_export(my_data(request.user), request=request)
    response = streaming_response(request, chunks, content_type="application/zip")
    return private(response, disposition=content_disposition_header(as_attachment=True, filename=name) or "attachment")


@login_required
def identity_profile_delete_page(request: HttpRequest) -> HttpResponse:
    """Confirm, then delete the student's identity profile."""
    data = my_data(request.user)
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error = "Tick the box to confirm that you want your identity profile deleted."
            return render(request, "privacy/profile_delete.html", {"data": data, "confirm_error": error}, status=400)
        try:
            identity_profile_delete(user=request.user, request=request)
        except ProfileDeleteRefused as exc:
            messages.error(request, str(exc))
            return render(request, "privacy/profile_delete.html", {"data": my_data(request.user)}, status=409)
        messages.success(
            request,
            "Your identity profile is deleted: your face template, your photo ID and the record of your face "
            "checks. Before your next proctored exam you will be asked to enrol again.",
        )
        return redirect("my_data")
    return render(request, "privacy/profile_delete.html", {"data": data})


@login_required
@require_POST
def face_matching_withdraw(request: HttpRequest) -> HttpResponse:
    """Withdraw the agreement to face matching: the face template is destroyed at once."""
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm that you withdraw your agreement to face matching.")
        return redirect("my_data")
    try:
        biometric_consent_withdraw(user=request.user, request=request)
    except BiometricConsentRequired as exc:
        messages.error(request, str(exc))
        return redirect("my_data")
    messages.success(
        request,
        "You have withdrawn your agreement to face matching. Your face template is destroyed, and none will be "
        "read or made again unless you agree again. A person will check your photo ID at your next exam instead.",
    )
    return redirect("my_data")


@login_required
@require_GET
def data_inventory_page(request: HttpRequest) -> HttpResponse:
    """What each model holds, how long it is kept, and whether the export includes it; read-only."""
    if not is_admin(request.user):
        raise PermissionDenied("Only admins see the data inventory.")
    context = {
        "retentions": list(RETENTION_MEANING.items()),
        "personal": [entry for entry in INVENTORY if entry.personal],
        "not_personal": [entry for entry in INVENTORY if not entry.personal],
        "libraries": [entry for entry in LIBRARIES if entry.personal],
        "libraries_not_personal": [entry for entry in LIBRARIES if not entry.personal],
    }
    return render(request, "privacy/inventory.html", context)
