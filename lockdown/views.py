"""The instructor's Safe Exam Browser page, the download of an exam's .seb file, and the check of the
keys SEB's JavaScript API gives a page. Thin: authorise through exams.permissions, call one service,
render or reply."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exams.models import Exam, ExamSession
from exams.permissions import Action, require
from lockdown.config_key import MAX_SEB_BYTES
from lockdown.guard import GUARDED_URL_NAMES, SebHashes
from lockdown.models import SafeExamBrowserRequirement
from lockdown.services import ConfigUpload, RequirementRefused, seb_javascript_verify, seb_requirement_save
from proctor.errors import Conflict, Invalid, NotAllowed


class RequirementForm(forms.Form):
    required = forms.BooleanField(label="Students must use Safe Exam Browser for this exam", required=False)
    config_file = forms.FileField(
        label="The exam's configuration file (.seb)",
        required=False,
        help_text="As saved by the SEB Configuration Tool. A new file replaces the old.",
    )
    config_password = forms.CharField(
        label="The file's password, if it has one",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Used once to read the file's settings; Invigil does not keep it.",
    )
    remove_config = forms.BooleanField(label="Remove the uploaded configuration file", required=False)
    browser_exam_keys = forms.CharField(
        label="Accepted Browser Exam Keys",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One a line, 64 hexadecimal characters each, as SEB shows them. Leave empty to check the "
        "configuration file's Config Key only.",
    )


def _exam(request: HttpRequest, exam_id: int, action: Action) -> Exam:
    exam = get_object_or_404(Exam.objects.select_related("course"), pk=exam_id)
    require(request.user, action, exam)
    return exam


def _settings_page(
    request: HttpRequest, exam: Exam, form: RequirementForm, *, status: int = 200, errors: dict[str, str] | None = None
) -> HttpResponse:
    for field, message in (errors or {}).items():
        form.add_error(field if field in form.fields else None, message)
    requirement = SafeExamBrowserRequirement.objects.filter(exam=exam).first()
    return render(
        request, "lockdown/settings.html", {"exam": exam, "requirement": requirement, "form": form}, status=status
    )


@sensitive_post_parameters("config_password")
@login_required
@require_http_methods(["GET", "POST"])
def requirement_settings(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = _exam(request, exam_id, Action.MANAGE_EXAM)
    if request.method == "GET":
        requirement = SafeExamBrowserRequirement.objects.filter(exam=exam).first()
        initial = (
            {"required": requirement.required, "browser_exam_keys": "\n".join(requirement.browser_exam_keys)}
            if requirement
            else {}
        )
        return _settings_page(request, exam, RequirementForm(initial=initial))
    form = RequirementForm(request.POST, request.FILES)
    if not form.is_valid():
        return _settings_page(request, exam, form, status=400)
    upload = None
    uploaded = form.cleaned_data["config_file"]
    if uploaded is not None:
        if uploaded.size > MAX_SEB_BYTES:
            errors = {"config_file": f"The file is larger than {MAX_SEB_BYTES // 1024} KB; a .seb file is far smaller."}
            return _settings_page(request, exam, form, status=400, errors=errors)
        upload = ConfigUpload(
            name=uploaded.name or "exam.seb", data=uploaded.read(), password=form.cleaned_data["config_password"]
        )
    try:
        seb_requirement_save(
            exam=exam,
            actor=request.user,
            required=form.cleaned_data["required"],
            browser_exam_keys=form.cleaned_data["browser_exam_keys"],
            upload=upload,
            remove_config=form.cleaned_data["remove_config"],
        )
    except RequirementRefused as exc:
        return _settings_page(request, exam, form, status=400, errors=exc.errors)
    return redirect("lockdown_settings", exam_id=exam.pk)


@login_required
@require_GET
def config_download(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The exam's .seb file for its students (opening it starts SEB with the exam's settings) and staff."""
    exam = _exam(request, exam_id, Action.VIEW_EXAM)
    requirement = SafeExamBrowserRequirement.objects.filter(exam=exam).exclude(config_file_name="").first()
    if requirement is None:
        raise Http404("This exam has no Safe Exam Browser configuration file.")
    response = HttpResponse(bytes(requirement.config_file), content_type="application/seb")
    response["Content-Disposition"] = f'attachment; filename="exam-{exam.pk}.seb"'
    return response


def _guarded_url_of_session(request: HttpRequest, url: str, session_id: uuid.UUID) -> bool:
    """Whether ``url`` is one of this exam session's guarded pages on this very site."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != request.build_absolute_uri("/").rstrip("/"):
        return False
    try:
        match = resolve(parts.path)
    except Resolver404:
        return False
    return match.url_name in GUARDED_URL_NAMES and str(match.kwargs.get("session_id")) == str(session_id)


@require_POST
def javascript_verify(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """SEB's JavaScript API gives a page ``SafeExamBrowser.security.configKey`` and ``browserExamKey``:
    the keys hashed with the page's URL. The page posts them with its URL; they are checked as the
    headers would be, and a match is remembered for this exam session."""
    if not request.user.is_authenticated:
        raise NotAllowed("Sign in again to continue.")
    session = get_object_or_404(ExamSession.objects.select_related("exam__course"), pk=session_id)
    require(request.user, Action.RECORD_SESSION, session)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise Invalid("Send the keys as JSON.") from exc
    if not isinstance(body, dict) or not all(
        isinstance(body.get(name, ""), str) for name in ("url", "config_key", "browser_exam_key")
    ):
        raise Invalid("Send the page's url, config_key and browser_exam_key as strings.")
    requirement = SafeExamBrowserRequirement.objects.filter(exam=session.exam).first()
    if requirement is None or not requirement.enforced:
        raise Conflict("This exam does not ask for Safe Exam Browser.")
    page_url = body.get("url", "")
    if not _guarded_url_of_session(request, page_url, session.pk):
        raise Invalid("The keys must be those of this exam's page on this site.")
    seb_javascript_verify(
        session=session,
        requirement=requirement,
        page_url=page_url,
        hashes=SebHashes(config_key_hash=body.get("config_key", ""), request_hash=body.get("browser_exam_key", "")),
        django_session=request.session,
        actor=request.user,
    )
    return JsonResponse({"verified": True, "next": reverse("session_exam", args=[session.pk])})
