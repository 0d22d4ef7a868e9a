"""Writes of the instructor's workspace: create, edit and duplicate an exam, its questions and choices,
and an exam's own consent policy. Every write is atomic, audited and refused with reasons by field.

Once a student has started the exam, what decides how sessions are proctored or marked stays as it
is: the opening time, the duration, an earlier closing time, the streams, checks, allowed materials,
sensitivity and identity check, and every question (its words included: answers were written to
them). The title, the instructions (a typo or a clarification), a later closing time and the
alternative arrangement stay editable: they change nothing a started student is measured by.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from exams.lifecycle import BEGUN
from exams.models import (
    CHOICE_KINDS,
    MAX_ALTERNATIVE_CHARS,
    MAX_CONTACT_CHARS,
    Check,
    Choice,
    ConsentPolicy,
    Course,
    Delivery,
    Exam,
    Material,
    Question,
    QuestionKind,
    Sensitivity,
    alternative_missing,
)
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.errors import Invalid

MAX_TITLE_CHARS: int = Exam._meta.get_field("title").max_length or 200
MAX_INSTRUCTIONS_CHARS = 20_000
MAX_PROMPT_CHARS = 10_000
MAX_CHOICE_CHARS: int = Choice._meta.get_field("text").max_length or 500
MAX_CHOICES = 20
MAX_POINTS = Decimal("9999.99")
#: What the numeric fields hold (18 digits, 6 after the point).
MAX_NUMBER = Decimal("999999999999")
MAX_POLICY_CHARS = 20_000


class AuthoringRefused(Invalid):
    """An edit that cannot be made as given; ``errors`` says why, by form field ("__all__" for the
    whole). Nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors

    def details(self) -> dict[str, Any]:
        return {"errors": self.errors}


@dataclass(frozen=True)
class ExamSettings:
    """Everything an instructor sets on an exam besides its questions."""

    title: str
    instructions: str
    opens_at: datetime
    closes_at: datetime
    duration_minutes: int
    record_webcam: bool = True
    record_audio: bool = True
    record_screen: bool = True
    sensitivity: str = Sensitivity.STANDARD
    checks_off: list[str] = field(default_factory=list)
    allowed_materials: list[str] = field(default_factory=list)
    identity_check_required: bool = True
    alternative_arrangement: str = ""
    alternative_contact: str = ""

    def cleaned(self) -> ExamSettings:
        """The same with text stripped and the lists sorted and without repeats, as it is stored."""
        return replace(
            self,
            title=self.title.strip(),
            instructions=self.instructions.strip(),
            checks_off=sorted(set(self.checks_off)),
            allowed_materials=sorted(set(self.allowed_materials)),
            alternative_arrangement=self.alternative_arrangement.strip(),
            alternative_contact=self.alternative_contact.strip(),
        )


SETTINGS_FIELDS = tuple(ExamSettings.__dataclass_fields__)

#: Settings that decide how sessions are proctored, with what a refusal calls them.
PROCTORING_FIELDS: dict[str, str] = {
    "record_webcam": "which streams are recorded",
    "record_audio": "which streams are recorded",
    "record_screen": "which streams are recorded",
    "sensitivity": "the sensitivity",
    "checks_off": "the checks that run",
    "allowed_materials": "the allowed materials (they switch checks off)",
    "identity_check_required": "the identity check",
}
STARTED = "Students have started this exam, so {what} can no longer change: {why}"
PROCTORED_ALIKE = "every student of an exam is proctored alike, and those under way already are proctored this way."
QUESTIONS_LOCKED = STARTED.format(
    what="its questions, their points and their correct answers",
    why="answers already given were written to them and are marked by them.",
)


def exam_begun(exam: Exam) -> bool:
    """Whether any student has started the exam (whatever happened since)."""
    return exam.sessions.filter(status__in=BEGUN).exists()


def settings_of(exam: Exam) -> ExamSettings:
    return ExamSettings(**{name: getattr(exam, name) for name in SETTINGS_FIELDS})


def _settings_errors(settings: ExamSettings, *, published: bool) -> dict[str, str]:
    errors = {**_text_errors(settings), **_window_errors(settings)}
    if settings.sensitivity not in Sensitivity.values:
        errors["sensitivity"] = "Choose low, standard or high sensitivity."
    unknown = set(settings.checks_off) - set(Check.values)
    if unknown:
        errors["checks_off"] = f"There is no check called {', '.join(sorted(unknown))}."
    unknown = set(settings.allowed_materials) - set(Material.values)
    if unknown:
        errors["allowed_materials"] = f"There is no material called {', '.join(sorted(unknown))}."
    if published:
        proctored = settings.record_webcam or settings.record_audio or settings.record_screen
        probe = Exam(
            record_webcam=proctored,
            alternative_arrangement=settings.alternative_arrangement,
            alternative_contact=settings.alternative_contact,
        )
        for name, message in alternative_missing(probe).items():
            errors.setdefault(name, f"{message} The exam is published: it cannot lose its alternative.")
    return errors


def _text_errors(settings: ExamSettings) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not settings.title:
        errors["title"] = "Give the exam a title: students find it by its title."
    elif len(settings.title) > MAX_TITLE_CHARS:
        errors["title"] = f"Keep the title under {MAX_TITLE_CHARS} characters ({len(settings.title)} given)."
    if len(settings.instructions) > MAX_INSTRUCTIONS_CHARS:
        errors["instructions"] = f"Keep the instructions under {MAX_INSTRUCTIONS_CHARS:,} characters."
    if len(settings.alternative_arrangement) > MAX_ALTERNATIVE_CHARS:
        errors["alternative_arrangement"] = f"Keep the arrangement under {MAX_ALTERNATIVE_CHARS:,} characters."
    if len(settings.alternative_contact) > MAX_CONTACT_CHARS:
        errors["alternative_contact"] = f"Keep the contact under {MAX_CONTACT_CHARS:,} characters."
    return errors


def _window_errors(settings: ExamSettings) -> dict[str, str]:
    errors: dict[str, str] = {}
    if settings.closes_at <= settings.opens_at:
        errors["closes_at"] = "The exam must close after it opens."
    if not 1 <= settings.duration_minutes <= 24 * 60:
        errors["duration_minutes"] = "The duration is between 1 minute and 24 hours (1,440 minutes)."
    elif "closes_at" not in errors:
        window = int((settings.closes_at - settings.opens_at).total_seconds() // 60)
        if window < settings.duration_minutes:
            errors["duration_minutes"] = (
                f"The exam lasts {settings.duration_minutes} minutes but is open for only {window}: "
                "make the window at least as long as the exam, or the exam shorter."
            )
    return errors


def locked_changes(exam: Exam, settings: ExamSettings) -> dict[str, str]:
    """What a change to a started exam may not touch, by field, each with its reason."""
    errors: dict[str, str] = {}
    for name, what in PROCTORING_FIELDS.items():
        if getattr(settings, name) != getattr(exam, name):
            errors[name] = STARTED.format(what=what, why=PROCTORED_ALIKE)
    if settings.opens_at != exam.opens_at:
        errors["opens_at"] = STARTED.format(what="the opening time", why="the exam has opened already.")
    if settings.closes_at < exam.closes_at:
        errors["closes_at"] = STARTED.format(
            what="the closing time move earlier",
            why="it would cut short attempts planned by the present one. A later closing time is allowed.",
        )
    if settings.duration_minutes != exam.duration_minutes:
        errors["duration_minutes"] = STARTED.format(
            what="the duration",
            why=f"students started with {exam.duration_minutes} minutes, and every student has the same time "
            "(extra time is an accommodation).",
        )
    return errors


@transaction.atomic
def exam_create(
    *,
    course_id: int,
    settings: ExamSettings,
    actor: Any,
    delivery: str = Delivery.INVIGIL,
    request: HttpRequest | None = None,
) -> Exam:
    """A new exam of the course, as a draft: students see it only once it is published. An exam of the LMS
    (``delivery``) proctors an assessment whose questions stay in the LMS."""
    course = Course.objects.get(pk=course_id)
    settings = settings.cleaned()
    errors = _settings_errors(settings, published=False)
    if errors:
        raise AuthoringRefused(errors)
    exam = Exam.objects.create(course=course, delivery=delivery, **settings.__dict__)
    audit_record(
        actor=actor,
        action=AuditAction.EXAM_CREATE,
        target=exam,
        request=request,
        detail={"title": exam.title, "delivery": delivery},
    )
    return exam


def _same_minute_kept(exam: Exam, settings: ExamSettings) -> ExamSettings:
    """The form gives times to the minute: a time it shows unchanged keeps its stored seconds, so that
    saving the form moves nothing (and a started exam's opening time is not "changed")."""

    def kept(given: datetime, stored: datetime) -> datetime:
        return stored if given == stored.replace(second=0, microsecond=0) else given

    return replace(
        settings, opens_at=kept(settings.opens_at, exam.opens_at), closes_at=kept(settings.closes_at, exam.closes_at)
    )


@transaction.atomic
def exam_update(*, exam_id: int, settings: ExamSettings, actor: Any, request: HttpRequest | None = None) -> Exam:
    """Change an exam's settings. Once a student has started, what decides how sessions are proctored
    is refused, field by field with the reason; the rest (see the module) goes through."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    settings = _same_minute_kept(exam, settings.cleaned())
    errors = _settings_errors(settings, published=exam.published)
    if exam_begun(exam):
        errors = {**locked_changes(exam, settings), **errors}
    if errors:
        raise AuthoringRefused(errors)
    changed = [name for name in SETTINGS_FIELDS if getattr(settings, name) != getattr(exam, name)]
    if not changed:
        return exam
    for name in changed:
        setattr(exam, name, getattr(settings, name))
    exam.save(update_fields=changed)
    audit_record(actor=actor, action=AuditAction.EXAM_UPDATE, target=exam, request=request, detail={"changed": changed})
    return exam


@transaction.atomic
def exam_duplicate(*, exam_id: int, actor: Any, request: HttpRequest | None = None) -> Exam:
    """A draft copy of the exam in the same course, with its settings, questions and choices (and its
    own consent policy's latest version, if it has one), for the next sitting. Sessions, answers and
    accommodations belong to the students of the original and are not copied."""
    original = Exam.objects.get(pk=exam_id)
    title = f"Copy of {original.title}"[:MAX_TITLE_CHARS]
    copy = Exam.objects.create(course_id=original.course_id, **{**settings_of(original).__dict__, "title": title})
    for question in original.questions.prefetch_related("choices"):
        choices = list(question.choices.all())
        question.pk = None
        question.exam = copy
        question.save()
        Choice.objects.bulk_create(
            [Choice(question=question, position=c.position, text=c.text, is_correct=c.is_correct) for c in choices]
        )
    policy = original.consent_policies.order_by("-version").first()
    if policy is not None:
        ConsentPolicy.objects.create(
            institution_id=policy.institution_id,
            exam=copy,
            name=policy.name,
            version=1,
            text=policy.text,
            effective_from=policy.effective_from,
        )
    audit_record(
        actor=actor,
        action=AuditAction.EXAM_DUPLICATE,
        target=copy,
        request=request,
        detail={"copied_from": original.pk},
    )
    return copy


@dataclass(frozen=True)
class ChoiceDraft:
    text: str
    is_correct: bool = False


@dataclass(frozen=True)
class QuestionDraft:
    kind: str
    prompt: str
    points: Decimal
    numeric_answer: Decimal | None = None
    numeric_tolerance: Decimal = Decimal("0")
    choices: list[ChoiceDraft] = field(default_factory=list)


def question_problems(draft: QuestionDraft) -> dict[str, str]:
    """What keeps a question from being asked and marked, by field, or nothing. One rule for saving a
    question and for the check before publishing."""
    errors: dict[str, str] = {}
    if draft.kind not in QuestionKind.values:
        return {"kind": "Choose single choice, multiple choice, short answer or numeric."}
    prompt = draft.prompt.strip()
    if not prompt:
        errors["prompt"] = "Write the question: students answer what it says."
    elif len(prompt) > MAX_PROMPT_CHARS:
        errors["prompt"] = f"Keep the question under {MAX_PROMPT_CHARS:,} characters ({len(prompt):,} given)."
    if not Decimal("0") <= draft.points <= MAX_POINTS:
        errors["points"] = f"Points are between 0 and {MAX_POINTS}."
    errors.update(_choice_problems(draft))
    if draft.kind == QuestionKind.NUMERIC:
        errors.update(_numeric_problems(draft))
    return errors


def _choice_problems(draft: QuestionDraft) -> dict[str, str]:
    errors: dict[str, str] = {}
    choices = [c for c in draft.choices if c.text.strip()]
    if draft.kind in CHOICE_KINDS:
        correct = sum(c.is_correct for c in choices)
        if len(choices) < 2:
            errors["choices"] = "A choice question needs at least two options with text."
        elif len(choices) > MAX_CHOICES:
            errors["choices"] = f"Give at most {MAX_CHOICES} options."
        elif any(len(c.text.strip()) > MAX_CHOICE_CHARS for c in choices):
            errors["choices"] = f"Keep each option under {MAX_CHOICE_CHARS} characters."
        elif draft.kind == QuestionKind.SINGLE_CHOICE and correct != 1:
            errors["choices"] = f"Mark exactly one option as correct ({correct} marked): students choose one."
        elif draft.kind == QuestionKind.MULTIPLE_CHOICE and correct == 0:
            errors["choices"] = "Mark at least one option as correct."
    elif choices:
        errors["choices"] = "Only choice questions have options: clear them, or make this a choice question."
    return errors


def _numeric_problems(draft: QuestionDraft) -> dict[str, str]:
    errors: dict[str, str] = {}
    if draft.numeric_answer is None:
        errors["numeric_answer"] = "Give the right answer: numeric questions are marked against it."
    elif abs(draft.numeric_answer) > MAX_NUMBER:
        errors["numeric_answer"] = f"Keep the answer within ±{MAX_NUMBER:,}."
    if draft.numeric_tolerance < 0:
        errors["numeric_tolerance"] = "The tolerance cannot be negative: 0 means exactly the right answer."
    elif draft.numeric_tolerance > MAX_NUMBER:
        errors["numeric_tolerance"] = f"Keep the tolerance within {MAX_NUMBER:,}."
    return errors


def _question_draft(question: Question) -> QuestionDraft:
    return QuestionDraft(
        kind=question.kind,
        prompt=question.prompt,
        points=question.points,
        numeric_answer=question.numeric_answer,
        numeric_tolerance=question.numeric_tolerance,
        choices=[ChoiceDraft(c.text, c.is_correct) for c in question.choices.all()],
    )


def _refuse_when_begun(exam: Exam) -> None:
    if exam_begun(exam):
        raise AuthoringRefused({"__all__": QUESTIONS_LOCKED})


@transaction.atomic
def question_save(
    *,
    exam_id: int,
    draft: QuestionDraft,
    actor: Any,
    question_id: int | None = None,
    request: HttpRequest | None = None,
) -> Question:
    """Add a question at the end of the exam, or change one, with its options (blank option rows are
    left out). Refused, changing nothing, when the question is incomplete or a student has started."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    _refuse_when_begun(exam)
    if exam.in_lms:
        raise AuthoringRefused({"prompt": "This exam's questions live in the LMS: write them there."})
    errors = question_problems(draft)
    if errors:
        raise AuthoringRefused(errors)
    fields = {
        "kind": draft.kind,
        "prompt": draft.prompt.strip(),
        "points": draft.points,
        "numeric_answer": draft.numeric_answer if draft.kind == QuestionKind.NUMERIC else None,
        "numeric_tolerance": draft.numeric_tolerance if draft.kind == QuestionKind.NUMERIC else Decimal("0"),
    }
    if question_id is None:
        last = exam.questions.aggregate(last=Max("position"))["last"] or 0
        question = Question.objects.create(exam=exam, position=last + 1, **fields)
        action = AuditAction.QUESTION_ADD
    else:
        question = exam.questions.get(pk=question_id)
        for name, value in fields.items():
            setattr(question, name, value)
        question.save()
        question.choices.all().delete()
        action = AuditAction.QUESTION_CHANGE
    if draft.kind in CHOICE_KINDS:
        kept = [c for c in draft.choices if c.text.strip()]
        Choice.objects.bulk_create(
            [
                Choice(question=question, position=n, text=c.text.strip(), is_correct=c.is_correct)
                for n, c in enumerate(kept, start=1)
            ]
        )
    audit_record(
        actor=actor, action=action, target=exam, request=request, detail={"question": question.pk, "kind": draft.kind}
    )
    return question


@transaction.atomic
def question_delete(*, exam_id: int, question_id: int, actor: Any, request: HttpRequest | None = None) -> None:
    """Remove a question and its options, and close the gap in the numbering."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    _refuse_when_begun(exam)
    question = exam.questions.get(pk=question_id)
    question.delete()
    for position, later in enumerate(exam.questions.order_by("position", "pk"), start=1):
        if later.position != position:
            later.position = position
            later.save(update_fields=["position"])
    audit_record(
        actor=actor, action=AuditAction.QUESTION_DELETE, target=exam, request=request, detail={"question": question_id}
    )


@transaction.atomic
def question_move(*, exam_id: int, question_id: int, up: bool, actor: Any, request: HttpRequest | None = None) -> None:
    """Swap a question with the one before (``up``) or after it. The first cannot move up, nor the last down."""
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    _refuse_when_begun(exam)
    ordered = list(exam.questions.order_by("position", "pk"))
    index = next((n for n, q in enumerate(ordered) if q.pk == question_id), None)
    if index is None:
        raise Question.DoesNotExist
    other = index - 1 if up else index + 1
    if not 0 <= other < len(ordered):
        raise AuthoringRefused({"__all__": f"Question {index + 1} is {'first' if up else 'last'} already."})
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, question in enumerate(ordered, start=1):
        if question.position != position:
            question.position = position
            question.save(update_fields=["position"])
    audit_record(
        actor=actor,
        action=AuditAction.QUESTION_MOVE,
        target=exam,
        request=request,
        detail={"question": question_id, "to": other + 1},
    )


def exam_incomplete(exam: Exam, *, policy_on_opening: ConsentPolicy | None) -> list[str]:
    """What an exam lacks before students may see it, one sentence each, or nothing. ``policy_on_opening``
    is the consent policy in effect on its opening day (the caller reads it)."""
    missing = []
    questions = list(exam.questions.prefetch_related("choices"))
    if exam.in_lms:
        if questions:
            missing.append("Its questions live in the LMS: remove the questions written here.")
    elif not questions:
        missing.append("It has no questions: add at least one.")
    for number, question in enumerate(questions, start=1):
        problems = question_problems(_question_draft(question))
        if problems:
            missing.append(f"Question {number} is incomplete: {' '.join(problems.values())}")
    if exam.closes_at <= timezone.now():
        missing.append("Its window has passed: set a closing time in the future.")
    if policy_on_opening is None:
        missing.append(
            "No consent policy is in effect on its opening day: add one for the exam, or ask your institution's "
            "privacy office for one."
        )
    return missing


@transaction.atomic
def exam_consent_policy_add(
    *, exam_id: int, name: str, text: str, effective_from: date, actor: Any, request: HttpRequest | None = None
) -> ConsentPolicy:
    """Add the next version of the exam's own consent policy, which applies to it instead of the course's
    or the institution's. Earlier versions stay as students read them."""
    exam = Exam.objects.select_for_update().select_related("course").get(pk=exam_id)
    name, text = name.strip(), text.strip()
    errors = {}
    if not name:
        errors["name"] = "Name the policy, for example \u201cRecording of the final exam\u201d."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if not text:
        errors["text"] = "Write the policy: students read it in full before they agree or decline."
    elif len(text) > MAX_POLICY_CHARS:
        errors["text"] = f"Keep the policy under {MAX_POLICY_CHARS:,} characters ({len(text):,} given)."
    if errors:
        raise AuthoringRefused(errors)
    last = exam.consent_policies.aggregate(last=Max("version"))["last"] or 0
    policy = ConsentPolicy.objects.create(
        institution_id=exam.course.institution_id,
        exam=exam,
        name=name,
        version=last + 1,
        text=text,
        effective_from=effective_from,
    )
    audit_record(
        actor=actor,
        action=AuditAction.EXAM_CONSENT_POLICY_ADD,
        target=exam,
        request=request,
        detail={"policy": policy.pk, "version": policy.version},
    )
    return policy
