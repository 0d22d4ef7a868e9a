"""The "Answers and marks" page of a session, for the course's staff, and the form a person marks a
short answer with. Thin: authorise through exams.permissions, call exams.marking, render; a refused
mark re-renders the page with its reason (status 400) and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from exams.marking import MAX_COMMENT_CHARS, MULTIPLE_CHOICE_RULE, MarkRefused, answer_mark, session_marks
from exams.models import ExamSession
from exams.permissions import Action, can, require
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


def _session(session_id: uuid.UUID) -> ExamSession:
    try:
        return ExamSession.objects.select_related("exam__course", "student").get(pk=session_id)
    except ExamSession.DoesNotExist as exc:
        raise Http404("No such exam session.") from exc


def _page(request: HttpRequest, session: ExamSession, *, error: dict[str, Any] | None = None) -> HttpResponse:
    context = {
        "session": session,
        "marks": session_marks(session),
        "may_mark": can(request.user, Action.MARK_ANSWERS, session),
        "may_review": can(request.user, Action.REVIEW_SESSION, session),
        "multiple_choice_rule": MULTIPLE_CHOICE_RULE,
        "max_comment_chars": MAX_COMMENT_CHARS,
        "error": error,
    }
    return render(request, "exams/marks/session_marks.html", context, status=400 if error else 200)


@login_required
@require_GET
def session_marks_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Each question with the student's answer, its mark and who gave it; the total and what waits."""
    session = _session(session_id)
    require(request.user, Action.VIEW_MARKS, session)
    audit_record(actor=request.user, action=AuditAction.MARKS_VIEW, target=session, request=request)
    return _page(request, session)


@login_required
@require_POST
def answer_mark_view(request: HttpRequest, session_id: uuid.UUID, question_id: int) -> HttpResponse:
    session = _session(session_id)
    require(request.user, Action.MARK_ANSWERS, session)
    points, comment = request.POST.get("points", ""), request.POST.get("comment", "")
    try:
        answer_mark(
            session_id=session.pk,
            question_id=question_id,
            points=points,
            comment=comment,
            actor=request.user,
            request=request,
        )
    except MarkRefused as exc:
        return _page(
            request, session, error={"question": question_id, "message": str(exc), "points": points, "comment": comment}
        )
    messages.success(request, "The mark is saved.")
    return redirect(f"{reverse('session_marks', args=[session.pk])}#question-{question_id}")
