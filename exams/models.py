"""Institutions, courses, exams, questions, exam sessions (attempts) and accommodations.

Personal data here: who belongs to which course in which role, a student's answers, the history of
their exam session, and their accommodations (which may reveal a disability). Answers and session
history are kept with the course record; accommodations are kept while the exam exists.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

#: Ten years. A longer period is taken for a typing mistake; a legal hold keeps data longer where it must.
MAX_RETENTION_DAYS = 3650


class Institution(models.Model):
    """A university or college running Invigil. Its retention periods are its privacy promises."""

    name = models.CharField(max_length=200, unique=True)
    recording_retention_days = models.PositiveIntegerField(
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Recordings and everything derived from them are purged this many days after the exam.",
    )
    profile_retention_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Identity profiles and face templates are purged this many days after their last use.",
    )
    appeal_window_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=(
            "A student may appeal a confirmed concern for this many days after it was confirmed; its recordings "
            "are kept until then, even past the recording retention."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Course(models.Model):
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="courses")
    code = models.CharField(max_length=40)
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="course_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Role(models.TextChoices):
    STUDENT = "student", "Student"
    INSTRUCTOR = "instructor", "Instructor"
    REVIEWER = "reviewer", "Reviewer"


class CourseMembership(models.Model):
    """A person's one role in one course. Reviewers are appointed by the course's instructors."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    appointed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "role", "user"]
        constraints = [models.UniqueConstraint(fields=["course", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.course.code}"


SCOPE_ERROR = (
    "A consent policy applies to the whole institution, to one course or to one exam: choose a course or an exam, "
    "not both."
)
VERSION_TAKEN_ERROR = (
    "This institution, course or exam already has a consent policy with this version number; give the new version "
    "the next number."
)


class ConsentPolicy(models.Model):
    """One version of a text that students consent to (or decline) before anything is recorded.

    A policy applies to the whole institution, to one course or to one exam (its scope). Versions are
    rows, numbered within their scope; the most specific scope with a version in effect applies, and
    within it the highest version in effect (``exams.selectors.consent_policy_for``). A version that
    students have answered is kept unchanged, since their consent records point at it. No personal data.
    """

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="consent_policies")
    course = models.ForeignKey(
        "Course",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consent_policies",
        help_text="Only for this course's exams. Leave the course and exam empty for the whole institution.",
    )
    exam = models.ForeignKey(
        "Exam",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consent_policies",
        help_text="Only for this exam. Leave the course and exam empty for the whole institution.",
    )
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Numbered within the institution, course or exam it applies to."
    )
    text = models.TextField(help_text="Shown to the student in full before they consent.")
    effective_from = models.DateField(help_text="Students are asked to consent to this version from this day.")

    class Meta:
        ordering = ["institution_id", "course_id", "exam_id", "-version"]
        verbose_name_plural = "consent policies"
        constraints = [
            models.CheckConstraint(
                name="consent_policy_one_scope",
                condition=models.Q(course__isnull=True) | models.Q(exam__isnull=True),
                violation_error_message=SCOPE_ERROR,
            ),
            models.UniqueConstraint(
                fields=["institution", "version"],
                condition=models.Q(course__isnull=True, exam__isnull=True),
                name="consent_policy_institution_version_unique",
                violation_error_message=VERSION_TAKEN_ERROR,
            ),
            models.UniqueConstraint(
                fields=["course", "version"],
                condition=models.Q(course__isnull=False),
                name="consent_policy_course_version_unique",
                violation_error_message=VERSION_TAKEN_ERROR,
            ),
            models.UniqueConstraint(
                fields=["exam", "version"],
                condition=models.Q(exam__isnull=False),
                name="consent_policy_exam_version_unique",
                violation_error_message=VERSION_TAKEN_ERROR,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def clean(self) -> None:
        if self.course_id and self.exam_id:
            raise ValidationError({"exam": SCOPE_ERROR})
        if self.course is not None and self.course.institution_id != self.institution_id:
            raise ValidationError({"course": "Choose a course of the policy's institution."})
        if self.exam is not None and self.exam.course.institution_id != self.institution_id:
            raise ValidationError({"exam": "Choose an exam of the policy's institution."})

    @property
    def scope_label(self) -> str:
        """The scope in words: "Institution", "Course PHYS101" or "Exam PHYS101: Midterm"."""
        if self.exam is not None:
            return f"Exam {self.exam}"
        if self.course is not None:
            return f"Course {self.course.code}"
        return "Institution"


#: The longest part of a privacy notice an institution may write; a notice is read before an exam, in full.
MAX_NOTICE_PART_CHARS = 3000

#: The parts of a privacy notice an institution writes, with the question each answers; the first six
#: are required (a notice without them is incomplete: nothing is published or consented to under it).
NOTICE_PARTS: dict[str, str] = {
    "controller": "who runs the exam and is responsible for the data",
    "authority": "under what authority (legal basis) the data is processed",
    "purposes": "what the data is for",
    "recipients": "who sees the data",
    "location": "where the data is kept",
    "contact": "whom to contact about it",
    "recorded": "anything to add about what is recorded",
    "analysis": "anything to add about the automated analysis and the human review",
    "retention": "anything to add about how long data is kept",
}
NOTICE_REQUIRED_PARTS = ("controller", "authority", "purposes", "recipients", "location", "contact")


def notice_part_errors(parts: dict[str, str]) -> dict[str, str]:
    """What is wrong with the parts of a privacy notice (by part), or nothing. One rule for the service
    that adds a version, the admin form, and the check before publishing or consenting."""
    errors = {}
    for name, question in NOTICE_PARTS.items():
        value = (parts.get(name) or "").strip()
        if name in NOTICE_REQUIRED_PARTS and not value:
            errors[name] = f"The notice must say {question}: this part cannot be empty."
        elif len(value) > MAX_NOTICE_PART_CHARS:
            errors[name] = f"Keep this part under {MAX_NOTICE_PART_CHARS:,} characters ({len(value):,} given)."
    return errors


class PrivacyNotice(models.Model):
    """One version of an institution's privacy notice: the parts the institution writes. The lobby shows
    it in full, with what the exam records and the retention periods the purge uses filled in from the
    exam and the institution (``exams.notice``), so the two cannot disagree.

    Versions are rows numbered within the institution and never edited: a changed notice is a new
    version, since consent records point at the version their student read. No personal data.
    """

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="privacy_notices")
    version = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    controller = models.TextField(
        help_text="Who runs the exam and is responsible for the data (the controller), with its address."
    )
    authority = models.TextField(
        verbose_name="legal authority",
        help_text="Under what authority, or legal basis, the institution records and analyses the exam.",
    )
    purposes = models.TextField(help_text="What the recordings and the analysis are for, and what they are not for.")
    recorded = models.TextField(
        blank=True,
        verbose_name="more about what is recorded",
        help_text="Optional. The notice already lists what each exam records (webcam, microphone, screen, browser "
        "events).",
    )
    analysis = models.TextField(
        blank=True,
        verbose_name="more about the analysis and review",
        help_text="Optional. The notice already says that software only marks moments, that a person reviews "
        "every flag and that no decision is automated.",
    )
    retention = models.TextField(
        blank=True,
        verbose_name="more about retention",
        help_text="Optional. The notice already gives the institution's retention periods and appeal window, "
        "from its settings.",
    )
    recipients = models.TextField(
        verbose_name="who sees the data",
        help_text="Who may see the data besides the course's instructors and reviewers, who are named in the notice.",
    )
    location = models.TextField(
        verbose_name="where it is kept", help_text="Where the data is kept: whose servers, in which country."
    )
    contact = models.TextField(
        help_text="Whom the student contacts about their data: the privacy office's email and postal address."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["institution", "-version"]
        constraints = [models.UniqueConstraint(fields=["institution", "version"], name="privacy_notice_version_unique")]

    def __str__(self) -> str:
        return f"Privacy notice of {self.institution} v{self.version}"

    def clean(self) -> None:
        errors = notice_part_errors(self.parts())
        if errors:
            raise ValidationError(errors)

    def parts(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in NOTICE_PARTS}


class NoticeText(models.Model):
    """The exact text of a privacy notice as a student was shown it, once per distinct text, so that the
    SHA-256 kept with every consent record can be checked against the words. No personal data."""

    sha256 = models.CharField(max_length=64, unique=True)
    notice = models.ForeignKey(PrivacyNotice, on_delete=models.PROTECT, related_name="texts")
    text = models.TextField()
    first_shown_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["notice", "first_shown_at"]

    def __str__(self) -> str:
        return f"{self.notice} ({self.sha256[:12]})"


class Sensitivity(models.TextChoices):
    LOW = "low", "Low (fewer flags)"
    STANDARD = "standard", "Standard"
    HIGH = "high", "High (more flags)"


class Check(models.TextChoices):
    """The automated checks an instructor can switch off for a whole exam. The analysis maps each to the
    flag types it raises (``analysis.rules.CHECK_KINDS``); technical events are never switched off."""

    ABSENT_FACE = "no_face", "No face in view"
    OTHER_PERSON = "multiple_faces", "Another person in view"
    FACE_MISMATCH = "face_mismatch", "Someone other than the enrolled student"
    SPEECH = "speech", "Speech"
    LEAVING_PAGE = "leaving_page", "Leaving the exam page (another tab or window, full screen left)"
    COPY_PASTE = "copy_paste", "Copying and pasting"
    EXTRA_DISPLAY = "extra_display", "A second display"


class Material(models.TextChoices):
    """What students may use in an exam. Allowing one switches off the checks it would set off."""

    PAPER = "paper_notes", "Notes and books on paper"
    CALCULATOR_PROGRAM = "calculator_program", "A calculator program on the computer"
    OTHER_APPLICATIONS = "other_applications", "Other programs and websites (an open-web exam)"
    SECOND_DISPLAY = "second_display", "A second display"
    SPEAKING = "speaking", "Speaking aloud (an oral exam, or reading questions aloud)"


#: The checks each allowed material switches off: using what is allowed must raise no flag. Looking down
#: at paper takes the face out of view; another program means leaving the exam page.
MATERIAL_CHECKS_OFF: dict[str, frozenset[str]] = {
    Material.PAPER: frozenset({Check.ABSENT_FACE}),
    Material.CALCULATOR_PROGRAM: frozenset({Check.LEAVING_PAGE}),
    Material.OTHER_APPLICATIONS: frozenset({Check.LEAVING_PAGE, Check.COPY_PASTE}),
    Material.SECOND_DISPLAY: frozenset({Check.EXTRA_DISPLAY}),
    Material.SPEAKING: frozenset({Check.SPEECH}),
}


class Delivery(models.TextChoices):
    """Where the exam's questions are: written and answered in Invigil, or in the LMS while Invigil proctors
    (IMS LTI Proctoring Services: the LMS launches Invigil, which hands the student to the LMS's assessment)."""

    INVIGIL = "invigil", "Questions in Invigil"
    LMS = "lms", "Assessment in the LMS"


class Exam(models.Model):
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="exams")
    title = models.CharField(max_length=200)
    delivery = models.CharField(
        max_length=10,
        choices=Delivery.choices,
        default=Delivery.INVIGIL,
        help_text="Where the questions are. An exam of the LMS has none in Invigil; the LMS marks it.",
    )
    instructions = models.TextField(blank=True)
    opens_at = models.DateTimeField(help_text="Students may start from this time.")
    closes_at = models.DateTimeField(help_text="No one may start after this time, and every attempt ends by it.")
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(24 * 60)])
    record_webcam = models.BooleanField(default=True)
    record_audio = models.BooleanField(default=True)
    record_screen = models.BooleanField(default=True)
    sensitivity = models.CharField(max_length=10, choices=Sensitivity.choices, default=Sensitivity.STANDARD)
    checks_off = models.JSONField(
        default=list,
        blank=True,
        help_text="Automated checks the instructor switched off for this exam (exams.models.Check values).",
    )
    allowed_materials = models.JSONField(
        default=list,
        blank=True,
        help_text="What students may use (exams.models.Material values); each switches off the checks it sets off.",
    )
    identity_check_required = models.BooleanField(
        default=True,
        help_text="Students prove who they are before they start: a face match, or a person checks their photo ID.",
    )
    alternative_arrangement = models.TextField(
        blank=True,
        help_text=(
            "What a student who declines recording does instead, with nothing recorded: for example an in-person "
            "sitting or an oral exam. Required before a proctored exam is published."
        ),
    )
    alternative_contact = models.CharField(
        max_length=300,
        blank=True,
        help_text="Whom the student contacts to arrange it: a name and an email address or telephone number.",
    )
    published_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Students see the exam only once it is published."
    )

    class Meta:
        ordering = ["opens_at", "title"]
        constraints = [
            models.CheckConstraint(name="exam_window_order", condition=models.Q(closes_at__gt=models.F("opens_at"))),
            models.CheckConstraint(name="exam_duration_positive", condition=models.Q(duration_minutes__gte=1)),
        ]

    def __str__(self) -> str:
        return f"{self.course.code}: {self.title}"

    def clean(self) -> None:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "The exam must close after it opens."})
        if self.published_at is not None:
            missing = alternative_missing(self)
            if missing:
                raise ValidationError(missing)

    @property
    def published(self) -> bool:
        return self.published_at is not None

    @property
    def in_lms(self) -> bool:
        """The assessment lives in the LMS: Invigil proctors it and holds no questions or answers."""
        return self.delivery == Delivery.LMS

    @property
    def proctored(self) -> bool:
        """Anything of the student is recorded."""
        return self.record_webcam or self.record_audio or self.record_screen

    @property
    def recorded_streams(self) -> list[str]:
        names = [("webcam", self.record_webcam), ("microphone", self.record_audio), ("screen", self.record_screen)]
        return [name for name, on in names if on]

    @property
    def allowed_material_labels(self) -> list[str]:
        return [str(Material(m).label) for m in Material.values if m in self.allowed_materials]

    def checks_switched_off(self) -> dict[str, str]:
        """Each check this exam does not run, with why in words (by check value). The analysis reads this
        and nothing else of the exam's check settings."""
        off = {check: "switched off for this exam" for check in Check.values if check in self.checks_off}
        for material in Material.values:
            if material in self.allowed_materials:
                for check in sorted(MATERIAL_CHECKS_OFF[material]):
                    off.setdefault(check, f"{Material(material).label.lower()} allowed")
        return off


MAX_ALTERNATIVE_CHARS = 5000
MAX_CONTACT_CHARS: int = Exam._meta.get_field("alternative_contact").max_length or 300

ALTERNATIVE_MISSING = "A proctored exam needs an alternative arrangement for students who decline recording: {what}."


def alternative_missing(exam: Exam) -> dict[str, str]:
    """What a proctored exam lacks to be published (by field), or nothing. One rule for the service
    that publishes and for every form that edits a published exam."""
    if not exam.proctored:
        return {}
    missing = {}
    if not (exam.alternative_arrangement or "").strip():
        missing["alternative_arrangement"] = ALTERNATIVE_MISSING.format(what="say what it is")
    if not (exam.alternative_contact or "").strip():
        missing["alternative_contact"] = ALTERNATIVE_MISSING.format(what="say whom to contact")
    return missing


def alternative_missing_message(exam: Exam) -> str:
    """The same, in one sentence ("" when nothing is missing)."""
    missing = alternative_missing(exam)
    if len(missing) == 2:
        return ALTERNATIVE_MISSING.format(what="say what it is and whom to contact")
    return next(iter(missing.values()), "")


class QuestionKind(models.TextChoices):
    SINGLE_CHOICE = "single_choice", "Single choice (one answer)"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice (all that apply)"
    SHORT_ANSWER = "short_answer", "Short answer"
    NUMERIC = "numeric", "Numeric"


#: Kinds whose answer is one or more of the question's choices.
CHOICE_KINDS = frozenset({QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE})


class Question(models.Model):
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=20, choices=QuestionKind.choices)
    prompt = models.TextField()
    points = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("1"), validators=[MinValueValidator(Decimal("0"))]
    )
    numeric_answer = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True, help_text="For a numeric question: the right answer."
    )
    numeric_tolerance = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="For a numeric question: answers this far from the right one, either way, are right too.",
    )

    class Meta:
        ordering = ["exam", "position", "id"]
        constraints = [
            models.CheckConstraint(
                name="question_tolerance_not_negative", condition=models.Q(numeric_tolerance__gte=0)
            ),
        ]

    def __str__(self) -> str:
        return f"Q{self.position}. {self.prompt[:60]}"

    @property
    def has_choices(self) -> bool:
        return self.kind in CHOICE_KINDS


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveIntegerField(default=1)
    text = models.CharField(max_length=500)
    is_correct = models.BooleanField(default=False)

    class Meta:
        ordering = ["question", "position", "id"]

    def __str__(self) -> str:
        return self.text


class SessionStatus(models.TextChoices):
    CREATED = "created", "Not started"
    CONSENTED = "consented", "Consent given"
    DECLINED = "declined", "Consent declined"
    READY = "ready", "Checks passed"
    STARTED = "started", "In progress"
    SUBMITTED = "submitted", "Submitted"
    TIMED_OUT = "timed_out", "Timed out"
    ABANDONED = "abandoned", "Abandoned"
    ANALYSING = "analysing", "Being analysed"
    ANALYSIS_FAILED = "analysis_failed", "Analysis failed"
    READY_FOR_REVIEW = "ready_for_review", "Ready for review"
    SECOND_REVIEW = "second_review", "Awaiting second review"
    CLEARED = "cleared", "No concern"
    CONCERN_CONFIRMED = "concern_confirmed", "Concern confirmed"
    APPEALED = "appealed", "Under appeal"


class ExamSession(models.Model):
    """One student's attempt at one exam. Its status changes only through
    ``exams.services.session_transition``.

    Personal data: the student, timings and status history. Recordings made during the session
    live in the recordings app and are purged on the institution's schedule.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, related_name="sessions")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exam_sessions")
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.CREATED, editable=False
    )
    status_changed_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    deadline = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the attempt times out, accommodations included."
    )
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempt_number = models.PositiveIntegerField(
        default=1,
        editable=False,
        validators=[MinValueValidator(1)],
        help_text="An exam of Invigil has one attempt; the LMS numbers the attempts at its own assessments.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["exam", "student", "attempt_number"], name="one_session_per_student_exam_and_attempt"
            ),
            models.CheckConstraint(name="session_attempt_positive", condition=models.Q(attempt_number__gte=1)),
        ]
        indexes = [models.Index(fields=["exam", "status"])]

    def __str__(self) -> str:
        return f"{self.student} — {self.exam}"


class SessionTransition(models.Model):
    """Who moved a session from one status to another, when, and why. Never edited."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=SessionStatus.choices)
    to_status = models.CharField(max_length=20, choices=SessionStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system moved it.",
    )
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class Answer(models.Model):
    """A student's current answer to one question, saved as it changes."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    choice = models.ForeignKey(Choice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    choices = models.ManyToManyField(
        Choice, blank=True, related_name="+", help_text="For a multiple-choice question: every option chosen."
    )
    text = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session", "question"]
        constraints = [models.UniqueConstraint(fields=["session", "question"], name="one_answer_per_question")]

    def __str__(self) -> str:
        return f"Answer to {self.question}"

    def clean(self) -> None:
        if self.choice is not None and self.question_id and self.choice.question_id != self.question_id:
            raise ValidationError({"choice": "That choice belongs to another question."})


class Mark(models.Model):
    """The marks one question earned in one session: worked out from the answer when the attempt ended
    (choice and numeric questions, and any question left unanswered), or given by a person (short
    answers, ``exams.marking``). A question without a row waits for a person.

    Personal data: the student's marks, who gave them and their comment; visible to the course's staff
    and admins (not to the student in Invigil: the LMS takes the marks); kept with the session.
    """

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="marks")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="marks")
    points = models.DecimalField(max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    #: True when worked out from the answer; False when a person gave it.
    automatic = models.BooleanField()
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for an automatic mark.",
    )
    marked_at = models.DateTimeField()
    comment = models.TextField(blank=True, help_text="The marker's comment, for the course's staff.")

    class Meta:
        ordering = ["session", "question"]
        constraints = [
            models.UniqueConstraint(fields=["session", "question"], name="one_mark_per_question"),
            models.CheckConstraint(name="mark_not_negative", condition=models.Q(points__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.points} for {self.question} in {self.session_id}"


class Accommodation(models.Model):
    """Adjustments for one student in one exam: extra time, breaks, detector exemptions and an
    alternative arrangement.

    Personal data: may reveal a disability or religious practice; visible to the student, the
    course's instructors and admins only (``staff_reason`` to the instructors and admins alone); kept
    while the exam exists.
    """

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="accommodations")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="accommodations")
    extra_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(24 * 60)])
    time_multiplier = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("4.00"))],
        help_text="For example 1.25 for 25% extra time. Use this or extra minutes, not both.",
    )
    breaks_allowed = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(20)])
    break_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(240)], help_text="Total break time, not counted against the exam."
    )
    no_camera = models.BooleanField(default=False, help_text="No webcam: face detectors are off.")
    speech_allowed = models.BooleanField(default=False, help_text="For example a screen reader or dictation.")
    face_covering = models.BooleanField(
        default=False, help_text="Face verification and the absent-face check are off; a second face is still flagged."
    )
    alternative_arrangement = models.TextField(
        blank=True, help_text="An arrangement outside Invigil, e.g. an in-person sitting."
    )
    note = models.TextField(blank=True, help_text="Shown to the student with their accommodation.")
    staff_reason = models.TextField(
        blank=True,
        verbose_name="reason (staff only)",
        help_text="Why it was granted, for example the disability office's letter. Seen by the course's "
        "instructors and admins only: never shown to the student, nor in their data export.",
    )

    class Meta:
        ordering = ["exam", "student"]
        constraints = [
            models.UniqueConstraint(fields=["exam", "student"], name="one_accommodation_per_student_and_exam"),
            models.CheckConstraint(
                name="extra_time_minutes_or_multiplier",
                condition=models.Q(time_multiplier__isnull=True) | models.Q(extra_minutes=0),
            ),
        ]

    def __str__(self) -> str:
        return f"Accommodation for {self.student} in {self.exam}"

    def clean(self) -> None:
        if self.time_multiplier is not None and self.extra_minutes:
            raise ValidationError("Give extra time as minutes or as a multiplier, not both.")

    def allowed_minutes(self, base_minutes: int) -> int:
        """Exam time with the extra time applied (breaks are separate)."""
        if self.time_multiplier is not None:
            return int((Decimal(base_minutes) * self.time_multiplier).to_integral_value(rounding="ROUND_CEILING"))
        return base_minutes + self.extra_minutes


class ExamBreak(models.Model):
    """A break the student took during the attempt, under their accommodation: the exam clock stood
    still (up to the break time they had left) and the analysis raises nothing for it.

    Personal data: shows when the student was away; visible to the student and the session's staff;
    kept with the session.
    """

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="breaks")
    started_at = models.DateTimeField()
    #: None while the student is on the break.
    ended_at = models.DateTimeField(null=True, blank=True)
    #: The break time the student had left when it began: the clock stands still for this long at most.
    allowed_seconds = models.PositiveIntegerField()
    #: The attempt's deadline before the break moved it on by the time the break counts for.
    deadline_before = models.DateTimeField()

    class Meta:
        ordering = ["session", "started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"], condition=models.Q(ended_at__isnull=True), name="one_break_at_a_time"
            ),
            models.CheckConstraint(
                name="break_ends_after_it_starts",
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
            ),
        ]

    def __str__(self) -> str:
        return f"Break in {self.session_id} from {self.started_at:%H:%M:%S}"

    def counted_seconds(self, now: datetime | None = None) -> float:
        """How long the clock stood still for it: the break's length, up to the time allowed."""
        end = self.ended_at or now or timezone.now()
        return min(max((end - self.started_at).total_seconds(), 0.0), float(self.allowed_seconds))


class ConsentDecision(models.TextChoices):
    CONSENTED = "consented", "Consented"
    DECLINED = "declined", "Declined"


class ConsentRecord(models.Model):
    """A student's answer to one exact version of a consent policy, for one session, with the privacy
    notice version shown beside it and the SHA-256 of the notice's exact text.

    Personal data: the decision, when, and from which address; kept with the session record.
    """

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="consents")
    policy = models.ForeignKey(ConsentPolicy, on_delete=models.PROTECT, related_name="records")
    policy_version = models.PositiveIntegerField(help_text="The version number the student read, as shown to them.")
    decision = models.CharField(max_length=10, choices=ConsentDecision.choices)
    notice = models.ForeignKey(
        PrivacyNotice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="records",
        help_text="The privacy notice version shown with the policy (empty for answers given before notices).",
    )
    notice_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the exact privacy notice text shown (exams.NoticeText)."
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "at"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} {self.policy} for {self.session}"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Waiting for the instructor"
    ANSWERED = "answered", "Answered"


class AlternativeRequest(models.Model):
    """A student who declined recording asks for another way to sit the exam; an instructor answers.

    Personal data: the student's reason, which may be sensitive; visible to the student, the course's
    instructors and admins.
    """

    session = models.OneToOneField(ExamSession, on_delete=models.CASCADE, related_name="alternative_request")
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.OPEN)
    response = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "created_at"]

    def __str__(self) -> str:
        return f"Alternative arrangement for {self.session}"
