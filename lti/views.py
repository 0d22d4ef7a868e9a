"""The LTI endpoints: OIDC login initiation, the launch, Invigil's public key set, the deep-linking choice
and the way out of the LMS's frame. Thin: the checks are in lti.launch, the work in the message type's
handler; refusals are audited here and rendered by proctor.refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import auth
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exams.models import Course, Exam
from exams.permissions import Action, require
from lti.deep_linking import PendingChoice, deep_linking_response
from lti.errors import LaunchNotAllowed, LtiRefusal
from lti.handover import Handover, handover_use
from lti.keys import key_set
from lti.launch import LOGIN_STATE_LIFETIME, handler_for, login_start, state_cookie_name, validate_launch
from lti.models import Platform
from lti.provisioning import lms_exam_draft
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.models import Outcome

View = Callable[..., HttpResponse]


def refusals_audited(action: AuditAction) -> Callable[[View], View]:
    """Write an audit entry for every LtiRefusal the view raises (after the refused work rolled back), then
    let proctor.refusals render it."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except LtiRefusal as refusal:
                audit_record(
                    actor=request.user,
                    action=action,
                    request=request,
                    outcome=Outcome.REFUSED,
                    detail={"reason": refusal.reason, "message": str(refusal), **refusal.context},
                )
                raise

        return wrapper

    return decorate


def sign_in_afresh(request: HttpRequest, user: Any) -> None:
    """A new session for ``user``, whoever was signed in before in this browser. LTI accounts have no
    password: the launch (or a handover from it) is how they sign in."""
    if request.user.is_authenticated:
        auth.logout(request)
    auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")


@csrf_exempt  # The LMS posts the login from its own site; nothing is changed but a login state.
@require_http_methods(["GET", "POST"])
@never_cache
@refusals_audited(AuditAction.LTI_LOGIN_REFUSED)
def login(request: HttpRequest) -> HttpResponse:
    """Third-party initiated login (LTI 1.3 core 4.1): the LMS sends the browser here first."""
    params = request.POST if request.method == "POST" else request.GET
    redirect = login_start(request, {key: params.get(key, "") for key in params})
    response = HttpResponseRedirect(redirect.url)
    # SameSite=None so the browser sends it with the LMS's cross-site form post to /lti/launch/; browsers
    # accept that only on a Secure cookie, so over plain HTTP (loopback development) it is Lax, which the
    # post carries only when the LMS is on the same site (e.g. both on 127.0.0.1).
    response.set_cookie(
        redirect.cookie_name,
        redirect.cookie_value,
        max_age=int(LOGIN_STATE_LIFETIME.total_seconds()),
        path="/",
        secure=request.is_secure(),
        httponly=True,
        samesite="None" if request.is_secure() else "Lax",
    )
    return response


@csrf_exempt  # The id_token's signature, the state and the nonce stand in for the CSRF token.
@require_POST
@never_cache
@refusals_audited(AuditAction.LTI_LAUNCH_REFUSED)
def launch(request: HttpRequest) -> HttpResponse:
    """The LMS's launch (an id_token and the login's state): check it, then let its message type answer."""
    verified = validate_launch(request)
    response = handler_for(verified.message_type).handler(request, verified)
    # The login is used up: its cookie has no further purpose.
    response.delete_cookie(state_cookie_name(request.POST["state"], secure=request.is_secure()), path="/")
    return response


@require_GET
@cache_control(public=True, max_age=300)
def jwks(request: HttpRequest) -> JsonResponse:
    """Invigil's public keys (JWKS), for the LMS to check what Invigil signs."""
    return JsonResponse(key_set())


def choice_page(
    request: HttpRequest, pending: PendingChoice, *, error: str = "", lms_error: str = "", lms_title: str = ""
) -> HttpResponse:
    """The list of the course's exams to choose from, or a new exam of the LMS to name; shown inside the
    LMS's frame. ``error`` is about the choice of exam, ``lms_error`` about the name."""
    course = get_object_or_404(Course, pk=pending.course)
    new_exam = Handover(user=pending.user, platform=pending.platform, next_path=reverse("exam_new", args=[course.pk]))
    context = {
        "course": course,
        "exams": course.exams.order_by("title", "pk"),
        "pending": pending.dumps(),
        "new_exam": new_exam.dumps(),
        "error": error,
        "lms_error": lms_error,
        "lms_title": lms_title,
    }
    response = render(request, "lti/deep_link.html", context, status=400 if error or lms_error else 200)
    response.xframe_options_exempt = True
    return response


def from_invigils_own_page(request: HttpRequest) -> None:
    """The forms of the deep-linking page and of the handover are on Invigil's own pages (shown in the LMS's
    frame, where Invigil's CSRF cookie is not sent). A browser says where a post comes from (Origin,
    Sec-Fetch-Site): one from another site is someone else's page replaying a signed form, to sign the
    victim in as the attacker or make exams in their name, and is refused."""
    origin = request.headers.get("Origin")
    own = request.build_absolute_uri("/").rstrip("/")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if (origin is not None and origin != own) or fetch_site not in (None, "same-origin", "none"):
        raise LaunchNotAllowed(
            "This form was sent from another site's page. Open the link from your LMS again.",
            reason="cross_site_post",
            origin=(origin or "")[:200],
        )


@csrf_exempt  # The signed pending choice and the same-origin check stand in for the CSRF token.
@xframe_options_exempt  # The LMS shows content selection in a frame of its own page.
@require_POST
@never_cache
@refusals_audited(AuditAction.LTI_LAUNCH_REFUSED)
def deep_link(request: HttpRequest) -> HttpResponse:
    """The instructor's choice: the signed answer naming the exam, posted back to the LMS."""
    from_invigils_own_page(request)
    pending = PendingChoice.loads(request.POST.get("pending", ""))
    instructor = get_object_or_404(get_user_model(), pk=pending.user, is_active=True)
    course = get_object_or_404(Course, pk=pending.course)
    require(instructor, Action.CREATE_EXAM, course)
    exam_id = request.POST.get("exam", "")
    chosen: Exam | None
    if "lms_title" in request.POST:
        # Proctoring for an assessment of the LMS: its draft exam of the LMS, finished in Invigil.
        title = request.POST["lms_title"].strip()
        if not title or len(title) > 200:
            return choice_page(
                request,
                pending,
                lms_error="Name the LMS's assessment, in at most 200 characters.",
                lms_title=request.POST["lms_title"][:200],
            )
        chosen = lms_exam_draft(course=course, title=title, actor=instructor, request=request)
    else:
        chosen = course.exams.filter(pk=exam_id).first() if exam_id.isdigit() else None
    if chosen is None:
        return choice_page(request, pending, error="Choose one of the course's exams.")
    platform = get_object_or_404(Platform, pk=pending.platform)
    jwt = deep_linking_response(
        platform=platform,
        deployment_id=pending.deployment_id,
        data=pending.data,
        exam=chosen,
        launch_url=request.build_absolute_uri(reverse("lti_launch")),
    )
    audit_record(
        actor=instructor,
        action=AuditAction.LTI_DEEP_LINK,
        target=chosen,
        request=request,
        detail={"issuer": platform.issuer, "deployment_id": pending.deployment_id},
    )
    return render(request, "lti/deep_link_return.html", {"return_url": pending.return_url, "jwt": jwt})


@csrf_exempt  # The signed, single-use handover and the same-origin check are the proof (lti.handover).
@require_POST
@never_cache
@refusals_audited(AuditAction.LTI_LAUNCH_REFUSED)
def continue_in_window(request: HttpRequest) -> HttpResponse:
    """A button on a page in the LMS's frame opened this window: sign the person in here and open the page
    the handover names, which checks their permissions as always."""
    from_invigils_own_page(request)
    handover = handover_use(request.POST.get("handover", ""))
    sign_in_afresh(request, get_object_or_404(get_user_model(), pk=handover.user, is_active=True))
    return HttpResponseRedirect(handover.next_path)
