"""The instructor's class list and accommodation pages. Thin: authorise through exams.permissions,
call one service in exams.roster, render or redirect; a refusal re-renders the page with its reason
(status 400) and changes nothing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms.models import fields_for_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exams import selectors
from exams.models import Accommodation, Course, CourseMembership, Exam, Role
from exams.permissions import Action, require
from exams.roster import (
    ACCOMMODATION_FIELDS,
    MAX_CSV_BYTES,
    AccommodationRefused,
    RosterImportRefused,
    RosterRefused,
    accommodation_remove,
    accommodation_set,
    roster_import_csv,
    roster_reviewer_appoint,
    roster_reviewer_remove,
    roster_student_add,
    roster_student_remove,
)


class PersonForm(forms.Form):
    identifier = forms.CharField(
        label="Username or email",
        max_length=254,
        error_messages={"required": "Give a username or an email address."},
    )


class ClassListForm(forms.Form):
    file = forms.FileField(
        label="Class list (CSV)",
        error_messages={"required": "Choose a CSV file: one username or email per line."},
    )


class AccommodationForm(forms.Form):
    """The accommodation's fields, each typed and range-checked as the model's; the rules between
    fields are the service's, so each refusal is said once."""

    def __init__(self, data: Any = None, *, instance: Accommodation | None = None) -> None:
        initial = {name: getattr(instance, name) for name in ACCOMMODATION_FIELDS} if instance else None
        super().__init__(data, initial=initial)
        self.fields = fields_for_model(Accommodation, fields=list(ACCOMMODATION_FIELDS), widgets=TEXT_AREAS)


TEXT_AREAS: dict[str, type[forms.Widget] | forms.Widget] = {
    "alternative_arrangement": forms.Textarea(attrs={"rows": 2}),
    "note": forms.Textarea(attrs={"rows": 2}),
    "staff_reason": forms.Textarea(attrs={"rows": 3}),
}


def _name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _course(request: HttpRequest, course_id: int, action: Action = Action.MANAGE_ROSTER) -> Course:
    course = get_object_or_404(Course.objects.select_related("institution"), pk=course_id)
    require(request.user, action, course)
    return course


def _roster_page(request: HttpRequest, course: Course, *, status: int = 200, **errors: Any) -> HttpResponse:
    return render(
        request,
        "exams/roster/roster.html",
        {
            "course": course,
            "roster": selectors.roster_of_course(course),
            "exams": course.exams.all(),
            "max_csv_kb": MAX_CSV_BYTES // 1024,
            **errors,
        },
        status=status,
    )


@login_required
@require_GET
def roster(request: HttpRequest, course_id: int) -> HttpResponse:
    return _roster_page(request, _course(request, course_id))


@login_required
@require_POST
def student_add(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    form = PersonForm(request.POST)
    try:
        if not form.is_valid():
            raise RosterRefused(" ".join(str(e) for e in form.errors["identifier"]))
        membership = roster_student_add(
            course_id=course.pk, identifier=form.cleaned_data["identifier"], actor=request.user, request=request
        )
    except RosterRefused as exc:
        return _roster_page(request, course, status=400, add_error=str(exc), add_value=request.POST.get("identifier"))
    messages.success(request, f"{_name(membership.user)} is on the class list.")
    return redirect("course_roster", course_id=course.pk)


@login_required
@require_POST
def class_list_import(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    form = ClassListForm(request.POST, request.FILES)
    try:
        if not form.is_valid():
            raise RosterRefused(" ".join(str(e) for e in form.errors["file"]))
        upload = form.cleaned_data["file"]
        # One byte past the limit is enough for the service to refuse it.
        result = roster_import_csv(
            course_id=course.pk, data=upload.read(MAX_CSV_BYTES + 1), actor=request.user, request=request
        )
    except RosterImportRefused as exc:
        return _roster_page(request, course, status=400, import_error=str(exc), import_problems=exc.problems)
    except RosterRefused as exc:
        return _roster_page(request, course, status=400, import_error=str(exc))
    already = f" {len(result.already)} were on it already." if result.already else ""
    messages.success(request, f"{len(result.added)} student(s) added to the class list.{already}")
    return redirect("course_roster", course_id=course.pk)


@login_required
@require_POST
def student_remove(request: HttpRequest, course_id: int, user_id: int) -> HttpResponse:
    course = _course(request, course_id)
    try:
        membership = roster_student_remove(course_id=course.pk, user_id=user_id, actor=request.user, request=request)
    except RosterRefused as exc:
        return _roster_page(request, course, status=400, remove_error=str(exc))
    messages.success(
        request,
        f"{_name(membership.user)} is off the class list. Their sessions and recordings stay with the course "
        "record, and they still see their own.",
    )
    return redirect("course_roster", course_id=course.pk)


@login_required
@require_POST
def reviewer_appoint(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id, Action.APPOINT_REVIEWER)
    form = PersonForm(request.POST)
    try:
        if not form.is_valid():
            raise RosterRefused(" ".join(str(e) for e in form.errors["identifier"]))
        membership = roster_reviewer_appoint(
            course_id=course.pk, identifier=form.cleaned_data["identifier"], actor=request.user, request=request
        )
    except RosterRefused as exc:
        return _roster_page(
            request, course, status=400, appoint_error=str(exc), appoint_value=request.POST.get("identifier")
        )
    messages.success(request, f"{_name(membership.user)} is a reviewer of {course.code}.")
    return redirect("course_roster", course_id=course.pk)


@login_required
@require_POST
def reviewer_remove(request: HttpRequest, course_id: int, user_id: int) -> HttpResponse:
    course = _course(request, course_id, Action.APPOINT_REVIEWER)
    try:
        membership = roster_reviewer_remove(course_id=course.pk, user_id=user_id, actor=request.user, request=request)
    except RosterRefused as exc:
        return _roster_page(request, course, status=400, remove_error=str(exc))
    messages.success(request, f"{_name(membership.user)} no longer reviews {course.code}; their decisions stay.")
    return redirect("course_roster", course_id=course.pk)


# --- Accommodations -------------------------------------------------------------------------------


def _exam(request: HttpRequest, exam_id: int) -> Exam:
    exam = get_object_or_404(Exam.objects.select_related("course"), pk=exam_id)
    require(request.user, Action.MANAGE_ACCOMMODATIONS, exam)
    return exam


def _students(exam: Exam) -> list[CourseMembership]:
    return selectors.roster_of_course(exam.course).students


def _accommodations_page(request: HttpRequest, exam: Exam, *, error: str = "") -> HttpResponse:
    students = _students(exam)
    enrolled = {m.user_id for m in students}
    granted = selectors.accommodations_of_exam(exam)
    return render(
        request,
        "exams/roster/accommodations.html",
        {
            "exam": exam,
            "students": students,
            "rows": [(m.user, granted[m.user_id]) for m in students if m.user_id in granted],
            # Kept when a student leaves the class list: their attempt may have run under it.
            "former": [a for student_id, a in granted.items() if student_id not in enrolled],
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def accommodations(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The exam's accommodations, with the staff's reasons, and a picker of the course's students."""
    return _accommodations_page(request, _exam(request, exam_id))


def _student_of_course(exam: Exam, student_id: int) -> Any:
    membership = (
        CourseMembership.objects.select_related("user")
        .filter(course_id=exam.course_id, user_id=student_id, role=Role.STUDENT)
        .first()
    )
    if membership is None:
        raise Http404("That person is not a student of this course.")
    return membership.user


@login_required
@require_GET
def accommodation_pick(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The picker's choice, to that student's form (the picker works without JavaScript)."""
    exam = _exam(request, exam_id)
    value = request.GET.get("student", "")
    if not value.isdigit():
        return _accommodations_page(request, exam, error="Choose a student from the list.")
    student = _student_of_course(exam, int(value))
    return redirect("exam_accommodation_edit", exam_id=exam.pk, student_id=student.pk)


@login_required
@require_http_methods(["GET", "POST"])
def accommodation_edit(request: HttpRequest, exam_id: int, student_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    student = _student_of_course(exam, student_id)
    existing = Accommodation.objects.filter(exam=exam, student=student).first()
    form = AccommodationForm(request.POST or None, instance=existing)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = {name: form.cleaned_data[name] for name in ACCOMMODATION_FIELDS}
            try:
                accommodation_set(
                    exam_id=exam.pk, student_id=student.pk, values=values, actor=request.user, request=request
                )
            except AccommodationRefused as exc:
                for field, problems in exc.errors.items():
                    for problem in problems:
                        form.add_error(None if field == "__all__" else field, problem)
            else:
                messages.success(request, f"The accommodation of {_name(student)} for {exam.title} is saved.")
                return redirect("exam_accommodations", exam_id=exam.pk)
        status = 400
    return render(
        request,
        "exams/roster/accommodation_form.html",
        {"exam": exam, "student": student, "form": form, "existing": existing},
        status=status,
    )


@login_required
@require_POST
def accommodation_delete(request: HttpRequest, exam_id: int, student_id: int) -> HttpResponse:
    exam = _exam(request, exam_id)
    try:
        accommodation_remove(exam_id=exam.pk, student_id=student_id, actor=request.user, request=request)
    except RosterRefused as exc:
        return _accommodations_page(request, exam, error=str(exc))
    messages.success(request, "The accommodation is removed.")
    return redirect("exam_accommodations", exam_id=exam.pk)
