"""Review pages and endpoints. Authorisation goes through exams.permissions, nowhere else."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analysis.models import Flag
from analysis.rules import RULES, Kind
from analysis.services import analysis_retry
from exams.delivery import session_links
from exams.lifecycle import UNDER_REVIEW, TransitionError
from exams.models import Course, ExamSession
from exams.permissions import Action, can, may_check_identity_somewhere, refusal, require
from identity.models import IdentityCheck, IdentityCheckKind, IdentityProfile, ManualDecision
from identity.reauth import signed_in_recently
from identity.selectors import identity_id_photo
from identity.services import MAX_REASON_CHARS, ManualCheckError, identity_manual_decide
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.crypto import DecryptionError
from proctor.ranges import ByteRange, RangeNotSatisfiable, byte_range
from proctor.streaming import csv_lines, private, streaming_response
from recordings.models import Recording
from recordings.selectors import recording_open_thumbnail, recording_playback_bytes
from review.access import (
    MAX_CASE_CHARS,
    REASONS,
    Grant,
    PurposeError,
    access_grant,
    access_purpose_state,
    purpose_choices,
)
from review.models import Appeal, Outcome, SessionDecision, Verdict
from review.selectors import (
    REVIEW_STATES,
    appeal_open_until,
    manual_check_session,
    manual_checks_for,
    review_dashboard,
    review_export,
    review_export_students,
    session_review,
)
from review.services import (
    DECIDABLE,
    MAX_NOTE_CHARS,
    DecisionError,
    decisions_open_to,
    flag_decide,
    person_name,
    session_appeal,
    session_decide,
    undecided_flags,
)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@login_required
@require_GET
def course_dashboard(request: HttpRequest, course_id: int) -> HttpResponse:
    """Every session of the course's exams, highest score first, filterable; live while analyses run."""
    course = get_object_or_404(Course.objects.select_related("institution"), pk=course_id)
    require(request.user, Action.REVIEW_COURSE, course)
    exam_id = _int_or_none(request.GET.get("exam"))
    flag_kind = request.GET.get("flag") or None
    state = request.GET.get("state") or None
    problems = []
    if flag_kind is not None and flag_kind not in Kind._value2member_map_:
        problems.append("That flag type does not exist; showing every type.")
        flag_kind = None
    if state is not None and state not in REVIEW_STATES:
        problems.append("That review state does not exist; showing every state.")
        state = None
    if exam_id is not None and not course.exams.filter(pk=exam_id).exists():
        problems.append("That exam is not in this course; showing every exam.")
        exam_id = None
    dashboard = review_dashboard(
        course, exam_id=exam_id, flag_kind=flag_kind, state=state, page=request.GET.get("page") or 1
    )
    audit_record(
        actor=request.user,
        action=AuditAction.REVIEW_DASHBOARD_VIEW,
        target=course,
        request=request,
        subjects=[row.session.student_id for row in dashboard.rows],
        detail={"exam": exam_id, "flag": flag_kind, "state": state, "page": dashboard.page.number},
    )
    filters = {"exam": exam_id, "flag": flag_kind, "state": state}
    query = "&".join(f"{key}={value}" for key, value in filters.items() if value is not None)
    return render(
        request,
        "review/dashboard.html",
        {
            "course": course,
            "dashboard": dashboard,
            "filters": filters,
            "query": query,
            "problems": problems,
            "flag_kinds": [(kind.value, RULES[kind].label) for kind in Kind],
            "states": [(key, label) for key, (label, _) in REVIEW_STATES.items()],
        },
    )


#: The most one ranged playback response carries (a few minutes of webcam at the recorders' bitrates).
PLAYBACK_WINDOW = 8 * 1024 * 1024

#: What a reviewer reads when the bytes are gone: crypto-shredded on schedule, or damaged.
UNREADABLE = "This can no longer be played or shown: its recording was deleted on schedule, or is damaged."


@login_required
@require_GET
def recording_playback(request: HttpRequest, recording_id: uuid.UUID) -> HttpResponse | StreamingHttpResponse:
    """The seekable playback copy of a recording, decrypted as it streams, with HTTP Range support so
    the player seeks at once. For the session's reviewers only; every request is audited."""
    recording = get_object_or_404(
        Recording.objects.select_related("session__exam__course", "data_key"), pk=recording_id
    )
    require(request.user, Action.REVIEW_SESSION, recording.session)
    grant = _grant_or_refuse(request, recording.session, "play a recording")
    if not recording.playback_name or recording.playback_size is None:
        raise Http404("This recording's playback copy is not ready yet; it is made once the recording is finalised.")
    size = recording.playback_size
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable as exc:
        refused = HttpResponse(str(exc), status=416, content_type="text/plain")
        refused["Content-Range"] = f"bytes */{size}"
        return private(refused)
    if wanted is not None and wanted.length > PLAYBACK_WINDOW:
        # Players ask "bytes=N-" and stop reading once they have enough; Daphne would buffer all the
        # rest for a client that stopped. A 206 carries at most a window; the player asks for more.
        wanted = ByteRange(wanted.start, wanted.start + PLAYBACK_WINDOW)
    span = wanted or ByteRange(0, size)
    try:
        plaintext = recording_playback_bytes(
            recording, start=span.start, stop=span.stop, actor=request.user, request=request, purpose=grant.purpose
        )
    except DecryptionError as exc:
        raise Http404(UNREADABLE) from exc
    response = streaming_response(request, plaintext, status=206 if wanted else 200, content_type="video/webm")
    response["Content-Length"] = str(span.length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = span.content_range(size)
    return private(response)


def _grant_or_refuse(request: HttpRequest, session: ExamSession, wanted: str) -> Grant:
    """The purpose stated for this session; a refusal (logged, 403) when none holds. The review page
    sends a reviewer to state one first, so only a stale tab or a hand-made request lands here."""
    grant = access_grant(request, session)
    if grant is None:
        raise refusal(
            request.user,
            f"{wanted} without a stated purpose",
            session,
            message="Say why you need this session first: open its review page and give your purpose.",
        )
    return grant


def _to_purpose_page(request: HttpRequest, session: ExamSession) -> HttpResponse:
    target = reverse("review_session_access", args=[session.pk])
    return redirect(f"{target}?{urlencode({'next': reverse('review_session', args=[session.pk])})}")


def _review_page(
    request: HttpRequest,
    session: ExamSession,
    *,
    status: int = 200,
    flag_error: tuple[int, str, dict[str, str]] | None = None,
    decision_error: tuple[str, dict[str, str]] | None = None,
) -> HttpResponse:
    grant = access_grant(request, session)
    if grant is None:
        return _to_purpose_page(request, session)
    review = session_review(session)
    audit_record(
        actor=request.user,
        action=AuditAction.REVIEW_SESSION_VIEW,
        target=session,
        request=request,
        purpose=grant.purpose,
    )
    parts = {
        kind: [
            {"url": reverse("recording_playback", args=[part.recording.pk]), "offset": part.offset}
            for part in getattr(review, kind)
        ]
        for kind in ("webcam", "screen")
    }
    context = {
        "review": review,
        "session": session,
        "review_parts": parts,
        "flags_open": session.status in UNDER_REVIEW,
        "may_decide": can(request.user, Action.DECIDE_SESSION, session),
        "reviewer_name": person_name(request.user),
        "verdicts": Verdict.choices,
        "decision_choices": [
            (outcome.value, outcome.label) for outcome in decisions_open_to(request.user, session, review.referral)
        ],
        "decision_open": session.status in DECIDABLE,
        "grant": grant,
        "flag_error": flag_error,
        "decision_error": decision_error,
        "session_links": session_links(request, session),
    }
    return render(request, "review/session.html", context, status=status)


def _session(session_id: uuid.UUID) -> ExamSession:
    return get_object_or_404(ExamSession.objects.select_related("exam__course", "student"), pk=session_id)


@login_required
@require_GET
def session_review_page(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """One session: webcam and screen side by side and in sync, the flags on a timeline, and the decisions."""
    session = _session(session_id)
    require(request.user, Action.REVIEW_SESSION, session)
    return _review_page(request, session)


@login_required
@require_http_methods(["GET", "POST"])
def session_access(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Say why you need a session (and type your password when the last sign-in is over 15 minutes
    old) before its recordings, pictures and review page open. Refused input changes nothing."""
    session = _session(session_id)
    require(request.user, Action.REVIEW_SESSION, session)
    default_next = reverse("review_session", args=[session.pk])
    next_url = request.POST.get("next") or request.GET.get("next") or default_next
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}) or not next_url.startswith(
        default_next
    ):
        next_url = default_next
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            access_purpose_state(request, session, request.POST)
        except PurposeError as exc:
            errors = exc.errors
        else:
            return redirect(next_url)
    return render(
        request,
        "review/access.html",
        {
            "session": session,
            "next": next_url,
            "flags": purpose_choices(session),
            "reasons": list(REASONS.items()),
            "needs_password": not signed_in_recently(request),
            "errors": errors,
            "data": {key: request.POST.get(key, "") for key in ("kind", "flag", "case")},
            "max_case": MAX_CASE_CHARS,
            "purpose_minutes": settings.ACCESS_PURPOSE_MINUTES,
            "reauth_minutes": settings.ACCESS_REAUTH_MINUTES,
        },
        status=400 if errors else 200,
    )


#: What happens next, said after each decision.
AFTER: dict[str, str] = {
    Outcome.NO_CONCERN: "The outcome is final unless the student appeals.",
    Outcome.REFERRED: "It now waits for a second reviewer: someone other than you must confirm it.",
    Outcome.CONFIRMED: "The outcome is final; the student can read the reasons and may appeal once.",
    Outcome.SENT_BACK: "It is back with the reviewers, ready for review.",
}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def flag_decision(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A reviewer confirms or dismisses one flag, with a note. Answers JSON to the page's script (so the
    players keep playing), or redirects back to the flag."""
    flag = get_object_or_404(Flag.objects.select_related("session__exam__course", "session__student"), pk=flag_id)
    session = flag.session
    require(request.user, Action.DECIDE_SESSION, session)
    values = {"verdict": request.POST.get("verdict", ""), "note": request.POST.get("note", "")}
    try:
        decision = flag_decide(flag_id=flag.pk, actor=request.user, request=request, **values)
    except DecisionError as exc:
        if _wants_json(request):
            return JsonResponse({"error": str(exc)}, status=400)
        return _review_page(request, session, status=400, flag_error=(flag.pk, str(exc), values))
    if _wants_json(request):
        return JsonResponse(
            {
                "verdict": decision.verdict,
                "verdict_label": decision.get_verdict_display(),
                "note": decision.note,
                "reviewer": decision.reviewer_name,
                "decided_at": decision.decided_at.isoformat(),
                "undecided": undecided_flags(session),
            }
        )
    messages.success(request, f"Flag {decision.get_verdict_display().lower()}: your note is recorded.")
    return redirect(reverse("review_session", args=[session.pk]) + f"#flag-{flag.pk}")


@login_required
@require_POST
def session_decision(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """A reviewer decides the session: no concern, or a concern referred (or, as the second reviewer,
    confirmed or sent back). Always with a note; signed with the reviewer's name."""
    session = _session(session_id)
    require(request.user, Action.DECIDE_SESSION, session)
    values = {"outcome": request.POST.get("outcome", ""), "note": request.POST.get("note", "")}
    try:
        decision = session_decide(session_id=session.pk, actor=request.user, request=request, **values)
    except DecisionError as exc:
        session.refresh_from_db()
        return _review_page(request, session, status=400, decision_error=(str(exc), values))
    messages.success(request, f"Recorded: {decision.get_outcome_display().lower()}. {AFTER[decision.outcome]}")
    return redirect("review_session", session.pk)


@login_required
@require_POST
def session_reanalyse(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """A reviewer asks for a failed analysis to run again (the session can also be decided without it)."""
    session = _session(session_id)
    require(request.user, Action.DECIDE_SESSION, session)
    try:
        analysis_retry(
            session_id=session.pk, actor=request.user, request=request, reason="Analysis run again by a reviewer."
        )
    except TransitionError as exc:
        messages.error(request, f"The analysis was not started again: {exc}")
    else:
        messages.success(request, "The analysis will run again; the dashboard shows its progress.")
    return redirect("review_session", session.pk)


@login_required
@require_http_methods(["GET", "POST"])
def session_appeal_page(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """The student reads the reasons for a confirmed concern and may appeal it, once."""
    session = _session(session_id)
    require(request.user, Action.APPEAL_SESSION, session)
    error = ""
    grounds = ""
    if request.method == "POST":
        grounds = request.POST.get("grounds", "")
        try:
            session_appeal(session_id=session.pk, grounds=grounds, actor=request.user, request=request)
        except DecisionError as exc:
            error = str(exc)
        else:
            messages.success(request, "Your appeal is lodged. Reviewers will look at the session again.")
            return redirect("session_detail", session.pk)
    until = appeal_open_until(session)
    open_now = until is not None and timezone.now() <= until
    context = {
        "session": session,
        "decisions": SessionDecision.objects.filter(session=session),
        "appeal": Appeal.objects.filter(session=session).first(),
        "appealable": open_now,
        "appeal_until": until,
        "appeal_closed": until if until is not None and not open_now else None,
        "error": error,
        "grounds": grounds,
        "max_chars": MAX_NOTE_CHARS,
    }
    return render(request, "review/appeal.html", context, status=400 if error else 200)


def _csv_safe(cell: str) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


@login_required
@require_GET
def review_export_csv(request: HttpRequest, course_id: int) -> HttpResponse | StreamingHttpResponse:
    """The course's sessions (or one exam's, with ?exam=) as CSV: scores, flags, verdicts, outcomes."""
    course = get_object_or_404(Course, pk=course_id)
    require(request.user, Action.REVIEW_COURSE, course)
    raw_exam = request.GET.get("exam") or None
    exam_id = _int_or_none(raw_exam)
    exam = course.exams.filter(pk=exam_id).first() if exam_id is not None else None
    if raw_exam is not None and exam is None:
        return HttpResponse(
            "That exam is not in this course; nothing was exported.", status=400, content_type="text/plain"
        )
    audit_record(
        actor=request.user,
        action=AuditAction.REVIEW_EXPORT,
        target=exam or course,
        request=request,
        subjects=review_export_students(course, exam_id=exam_id),
        detail={"course": course.pk, "exam": exam_id},
    )
    lines = csv_lines([_csv_safe(cell) for cell in row] for row in review_export(course, exam_id=exam_id))
    name = slugify(f"{course.code} {exam.title if exam else 'all exams'} review {timezone.localdate():%Y-%m-%d}")
    response = streaming_response(request, lines, content_type="text/csv; charset=utf-8")
    return private(response, disposition=f'attachment; filename="{name}.csv"')


@login_required
@require_GET
def flag_thumbnail(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A flag's evidence picture, decrypted for the session's reviewers; every view audited."""
    flag = get_object_or_404(
        Flag.objects.select_related("session__exam__course", "evidence_recording__data_key"), pk=flag_id
    )
    require(request.user, Action.REVIEW_SESSION, flag.session)
    grant = _grant_or_refuse(request, flag.session, "open an evidence picture")
    if flag.evidence_thumbnail is None or flag.evidence_recording is None or flag.evidence_seconds is None:
        raise Http404("This flag has no evidence picture.")
    try:
        jpeg = recording_open_thumbnail(
            recording=flag.evidence_recording, moment=flag.evidence_seconds, sealed=bytes(flag.evidence_thumbnail)
        )
    except DecryptionError as exc:
        raise Http404(UNREADABLE) from exc
    audit_record(
        actor=request.user,
        action=AuditAction.FLAG_THUMBNAIL_VIEW,
        target=flag.evidence_recording,
        request=request,
        purpose=grant.purpose,
        detail={"flag": flag.pk, "session": str(flag.session_id)},
    )
    return private(HttpResponse(jpeg, content_type="image/jpeg"))


# --- Manual identity checks ---------------------------------------------------------------------------


def _course_id(value: str) -> int:
    if not value.isdigit():
        raise Http404("No such course.")
    return int(value)


def _manual_check(request: HttpRequest, check_id: int) -> tuple[IdentityCheck, ExamSession]:
    """The manual check and its session, for a user who may check identity for that session."""
    check = get_object_or_404(
        IdentityCheck.objects.select_related("user"), pk=check_id, kind=IdentityCheckKind.MANUAL_REQUEST
    )
    session = manual_check_session(check)
    if session is None:
        raise Http404("This identity check is not for an exam session.")
    require(request.user, Action.CHECK_IDENTITY, session)
    return check, session


@login_required
@require_GET
def identity_checks(request: HttpRequest) -> HttpResponse:
    """The queue of manual identity checks the user may decide: photo ID beside the class-list entry."""
    if not may_check_identity_somewhere(request.user):
        raise refusal(
            request.user,
            "open the identity-check queue",
            message="Only a course's instructors and reviewers check identities.",
        )
    course = None
    if request.GET.get("course"):
        # From a course page: that course's checks only.
        course = get_object_or_404(Course, pk=_course_id(request.GET["course"]))
        require(request.user, Action.REVIEW_COURSE, course)
    course_id = course.pk if course is not None else None
    pending = manual_checks_for(request.user, pending=True, course_id=course_id)
    decided = manual_checks_for(request.user, pending=False, course_id=course_id)
    audit_record(
        actor=request.user,
        action=AuditAction.MANUAL_QUEUE_VIEW,
        request=request,
        subjects=[item.check.user_id for item in [*pending, *decided]],
        detail={"pending": [c.check.pk for c in pending]},
    )
    return render(
        request,
        "review/identity_checks.html",
        {"pending": pending, "decided": decided, "max_reason": MAX_REASON_CHARS, "course": course},
    )


@login_required
@require_GET
def identity_check_photo(request: HttpRequest, check_id: int) -> HttpResponse:
    """The student's photo ID, for a person deciding their manual check; every view audited."""
    check, session = _manual_check(request, check_id)
    if check.decision != ManualDecision.PENDING:
        raise Http404("This check is decided; its photo ID is deleted.")
    profile = IdentityProfile.objects.select_related("data_key").filter(user_id=check.user_id).first()
    if profile is None or not profile.id_photo_name:
        raise Http404("No photo ID is stored for this student.")
    try:
        photo = identity_id_photo(
            profile=profile,
            purpose=f"manual identity check {check.pk} for session {session.pk}",
            actor=request.user,
            request=request,
        )
    except DecryptionError as exc:
        raise Http404(UNREADABLE) from exc
    return private(HttpResponse(photo, content_type="image/jpeg"))


@login_required
@require_POST
def identity_check_decide(request: HttpRequest, check_id: int) -> HttpResponse:
    """Confirm or reject a manual identity check, with the reason; refused input changes nothing."""
    check, session = _manual_check(request, check_id)
    queue = reverse("review_identity_checks")
    if request.POST.get("course"):
        # Back to the course's queue the decision was made from.
        queue = f"{queue}?{urlencode({'course': session.exam.course_id})}"
    decision = request.POST.get("decision")
    if decision not in ("confirm", "reject"):
        messages.error(request, "Choose whether the photo ID matches the student on the class list.")
        return redirect(queue)
    try:
        identity_manual_decide(
            check_id=check.pk,
            actor=request.user,
            confirmed=decision == "confirm",
            reason=request.POST.get("reason", ""),
            request=request,
        )
    except ManualCheckError as exc:
        messages.error(request, f"{person_name(check.user)}: {exc}")
    else:
        verb = "confirmed" if decision == "confirm" else "not confirmed"
        kept = IdentityProfile.objects.filter(user_id=check.user_id).exclude(id_photo_name="").exists()
        photo = "The photo ID is kept for another check still waiting." if kept else "The photo ID is deleted."
        messages.success(request, f"Identity of {person_name(check.user)} {verb}. {photo}")
    return redirect(queue)
