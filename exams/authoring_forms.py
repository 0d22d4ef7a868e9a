"""Forms of the instructor's workspace. They parse what was typed (dates, numbers, choices); the rules
of what makes an exam or a question sound live in exams.authoring, which the forms hand their data to."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from exams.authoring import MAX_CHOICES, ChoiceDraft, ExamSettings, QuestionDraft
from exams.models import (
    MATERIAL_CHECKS_OFF,
    MAX_ALTERNATIVE_CHARS,
    MAX_CONTACT_CHARS,
    Check,
    Exam,
    Material,
    Question,
    QuestionKind,
    Sensitivity,
)

#: How a datetime-local input sends and shows its value (minutes, no seconds, no zone: the server's).
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"


def _local_datetime(label: str, help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        help_text=help_text,
        input_formats=[LOCAL_MINUTE, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_MINUTE),
        error_messages={"required": f"Give the {label.lower()}.", "invalid": "Give a date and a time."},
    )


def _material_choices() -> list[tuple[str, str]]:
    """Each material with the checks allowing it switches off, so the instructor sees the cost."""
    choices = []
    for material in Material:
        checks = ", ".join(sorted(Check(c).label.lower() for c in MATERIAL_CHECKS_OFF[material]))
        choices.append((material.value, f"{material.label} — switches off: {checks}"))
    return choices


class ExamForm(forms.Form):
    title = forms.CharField(
        max_length=Exam._meta.get_field("title").max_length,
        error_messages={"required": "Give the exam a title: students find it by its title."},
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Shown to students before they start and above the questions.",
    )
    opens_at = _local_datetime("Opening time", "Students may start from this time.")
    closes_at = _local_datetime("Closing time", "No one may start after this time, and every attempt ends by it.")
    duration_minutes = forms.IntegerField(
        label="Duration in minutes",
        min_value=1,
        max_value=24 * 60,
        help_text="Time each student has, before any extra time an accommodation gives.",
        error_messages={"required": "Give the duration in minutes.", "invalid": "Give the duration as a whole number."},
    )
    record_webcam = forms.BooleanField(label="Webcam", required=False)
    record_audio = forms.BooleanField(label="Microphone", required=False)
    record_screen = forms.BooleanField(label="Entire screen", required=False)
    sensitivity = forms.ChoiceField(
        choices=Sensitivity.choices,
        widget=forms.RadioSelect,
        help_text="How readily the checks raise a flag. Every flag is looked at by a person; none decides anything.",
    )
    checks_running = forms.MultipleChoiceField(
        label="Checks that run",
        choices=Check.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Untick a check to switch it off for every student. Equipment and network trouble is always "
        "noted, never as misconduct.",
    )
    allowed_materials = forms.MultipleChoiceField(
        label="Allowed materials",
        choices=_material_choices(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Using what is allowed must raise no flag: allowing a material switches off the checks it would "
        "set off.",
    )
    identity_check_required = forms.BooleanField(
        label="Students prove who they are before they start (a face match, or a person checks their photo ID)",
        required=False,
    )
    alternative_arrangement = forms.CharField(
        required=False,
        max_length=MAX_ALTERNATIVE_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="The alternative arrangement",
        help_text='What a student who declines recording does instead, for example "Sit the exam in person at '
        'the exam centre on 12 May". Required before a proctored exam is published.',
    )
    alternative_contact = forms.CharField(
        required=False,
        max_length=MAX_CONTACT_CHARS,
        label="Whom they contact",
        help_text="A name and an email address or telephone number.",
    )

    #: Groups of fields, each shown as one fieldset with its legend.
    GROUPS = (
        ("The exam", ("title", "instructions")),
        ("When", ("opens_at", "closes_at", "duration_minutes")),
        ("What is recorded", ("record_webcam", "record_audio", "record_screen")),
        ("Automated checks", ("sensitivity", "checks_running", "allowed_materials", "identity_check_required")),
        ("For students who decline recording", ("alternative_arrangement", "alternative_contact")),
    )

    @classmethod
    def blank(cls) -> ExamForm:
        """A new exam's form: tomorrow morning, three hours open, an hour long, everything recorded."""
        tomorrow = timezone.localdate() + timedelta(days=1)
        opens = timezone.make_aware(datetime.combine(tomorrow, time(9)))
        return cls(
            initial={
                "opens_at": opens,
                "closes_at": opens + timedelta(hours=3),
                "duration_minutes": 60,
                "record_webcam": True,
                "record_audio": True,
                "record_screen": True,
                "sensitivity": Sensitivity.STANDARD,
                "checks_running": list(Check.values),
                "identity_check_required": True,
            }
        )

    @classmethod
    def of(cls, exam: Exam) -> ExamForm:
        initial: dict[str, Any] = {
            name: getattr(exam, name) for name in cls.base_fields if name not in ("checks_running", "opens_at")
        }
        initial["opens_at"] = timezone.localtime(exam.opens_at)
        initial["closes_at"] = timezone.localtime(exam.closes_at)
        initial["checks_running"] = [c for c in Check.values if c not in exam.checks_off]
        return cls(initial=initial)

    def settings(self) -> ExamSettings:
        data = self.cleaned_data
        return ExamSettings(
            title=data["title"],
            instructions=data["instructions"],
            opens_at=data["opens_at"],
            closes_at=data["closes_at"],
            duration_minutes=data["duration_minutes"],
            record_webcam=data["record_webcam"],
            record_audio=data["record_audio"],
            record_screen=data["record_screen"],
            sensitivity=data["sensitivity"],
            checks_off=[c for c in Check.values if c not in data["checks_running"]],
            allowed_materials=data["allowed_materials"],
            identity_check_required=data["identity_check_required"],
            alternative_arrangement=data["alternative_arrangement"],
            alternative_contact=data["alternative_contact"],
        )

    def refused(self, errors: dict[str, str]) -> None:
        """Show a service's refusal on the fields it names."""
        for name, message in errors.items():
            target = "checks_running" if name == "checks_off" else name
            self.add_error(target if target in self.fields else None, message)


def _number(label: str, help_text: str, *, required: bool = False, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=required,
        max_digits=18,
        decimal_places=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        error_messages={"invalid": "Write a number, for example 42 or 3.5.", "required": f"Give the {label.lower()}."},
        **kwargs,
    )


class QuestionForm(forms.Form):
    kind = forms.ChoiceField(
        choices=QuestionKind.choices,
        label="Kind of question",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the kind of question: it decides how it is answered and marked."},
    )
    prompt = forms.CharField(
        label="Question",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the question: students answer what it says."},
    )
    points = _number("Points", "What a full answer earns.", required=True, min_value=Decimal("0"))
    numeric_answer = _number("Right answer", "For a numeric question: the number that is right.")
    numeric_tolerance = _number(
        "Tolerance", "For a numeric question: answers this far from the right one, either way, count as right too."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["points"].initial = Decimal("1")

    @classmethod
    def of(cls, question: Question) -> QuestionForm:
        return cls(
            initial={
                "kind": question.kind,
                "prompt": question.prompt,
                "points": question.points.normalize(),
                "numeric_answer": question.numeric_answer.normalize() if question.numeric_answer is not None else None,
                "numeric_tolerance": question.numeric_tolerance.normalize(),
            }
        )

    def draft(self, choices: list[ChoiceDraft]) -> QuestionDraft:
        data = self.cleaned_data
        return QuestionDraft(
            kind=data["kind"],
            prompt=data["prompt"],
            points=data["points"],
            numeric_answer=data["numeric_answer"],
            numeric_tolerance=data["numeric_tolerance"] or Decimal("0"),
            choices=choices,
        )

    def refused(self, errors: dict[str, str]) -> None:
        """Show a service's refusal on the fields it names (the options' refusal is shown above them)."""
        for name, message in errors.items():
            if name != "choices":
                self.add_error(name if name in self.fields else None, message)


class ChoiceForm(forms.Form):
    text = forms.CharField(label="Option", required=False, max_length=500)
    is_correct = forms.BooleanField(label="Correct", required=False)


def choice_rows(*, data: Any = None, initial: list[dict[str, Any]] | None = None, extra: int = 2) -> forms.BaseFormSet:
    """Option rows: the options given and ``extra`` empty rows. A row left empty is no option, so an
    option is removed by clearing its text; "More option rows" adds rows without saving."""
    rows = forms.formset_factory(ChoiceForm, extra=extra, max_num=MAX_CHOICES, absolute_max=MAX_CHOICES)
    return rows(data=data, initial=initial or [], prefix="choice")


def choices_of(question: Question) -> list[dict[str, Any]]:
    return [{"text": c.text, "is_correct": c.is_correct} for c in question.choices.all()]


def choice_drafts(formset: forms.BaseFormSet) -> list[ChoiceDraft]:
    return [
        ChoiceDraft(form.cleaned_data.get("text", ""), bool(form.cleaned_data.get("is_correct")))
        for form in formset.forms
        if form.cleaned_data.get("text", "").strip()
    ]


class ConsentPolicyForm(forms.Form):
    name = forms.CharField(
        max_length=200, label="Name", error_messages={"required": "Name the policy, for example its subject."}
    )
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Policy text",
        help_text="Students read it in full before they agree or decline; the versions they answered stay as "
        "they read them.",
        error_messages={"required": "Write the policy: students read it in full before they agree or decline."},
    )
    effective_from = forms.DateField(
        label="In effect from",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Students are asked about this version from this day.",
        error_messages={"required": "Give the day it takes effect.", "invalid": "Give a date."},
    )
