"""The demo's flagged attempt, made through the real services from start to finish: Noor Student
(``student2``) enrols her face, consents, passes the checks, takes "Quiz 1: kinematics" while her
webcam and screen are recorded in numbered chunks, switches tabs, submits; the recordings are
finalised and given playback copies, and the automated analysis flags the session for review.

Development only: ``manage.py seed_demo_recordings`` runs it after ``seed_demo``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from analysis.models import Flag
from analysis.services import analysis_run
from exams.lifecycle import AWAITING_ANALYSIS
from exams.models import Choice, Course, Exam, ExamSession, Question, QuestionKind
from exams.selectors import consent_policy_for
from exams.services import (
    answer_save,
    session_begin,
    session_checks_passed,
    session_consent,
    session_open,
    session_submit,
)
from identity.consent import biometric_consent_in_force, biometric_notice_current
from identity.models import IdentityProfile
from identity.services import biometric_consent_answer, identity_enrol, identity_verify
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from recordings.models import Recording, StreamKind
from recordings.services import (
    browser_signal_record,
    recording_append_chunk,
    recording_make_playback_copy,
    recording_start,
    session_recordings_finalise,
)
from review.demo import media

COURSE_CODE = "PHYS101"
EXAM_TITLE = "Quiz 1: kinematics"
STUDENT = "student2"
MIME_TYPES = {StreamKind.WEBCAM: "video/webm;codecs=vp8,opus", StreamKind.SCREEN: "video/webm;codecs=vp8"}
#: How long to wait for a Celery worker that began the analysis first (it reports every few seconds).
WORKER_WAIT_SECONDS = 600.0

T = TypeVar("T")


class DemoUnavailable(Exception):
    """The demo attempt cannot be made; the message says why and what to do."""


@dataclass
class DemoAttempt:
    session: ExamSession
    #: False when the attempt was there already and nothing changed.
    changed: bool
    flags: list[Flag]


def demo_attempt_record(*, say: Callable[[str], None] = lambda _: None) -> DemoAttempt:
    """Make the demo attempt, or finish one that was stopped after it was submitted, saying what each
    step does and how long it took. Idempotent: once the attempt is analysed, nothing changes.
    Raises DemoUnavailable when seed_demo has not run."""
    course = Course.objects.filter(code=COURSE_CODE, institution__name="Demo University").first()
    student = get_user_model().objects.filter(username=STUDENT).first()
    if course is None or student is None:
        raise DemoUnavailable("The demo course and people are missing: run `manage.py seed_demo` first.")
    session = ExamSession.objects.filter(exam__course=course, exam__title=EXAM_TITLE, student=student).first()
    # An attempt stopped after its submit (the command interrupted) is finished; any other is left alone.
    changed = session is None or session.status in AWAITING_ANALYSIS
    step = _Steps(say)
    if session is None:
        webcam = step.run("Encoding the demo webcam recording", media.demo_webcam_webm)
        screen = step.run("Encoding the demo screen recording", media.demo_screen_webm)
        session = step.run(
            f"Recording {student.get_full_name()}'s attempt at {EXAM_TITLE} through the services",
            lambda: _take_exam(course, student, webcam=webcam, screen=screen),
        )
    if changed:
        step.run("Making the playback copies", lambda: _playback_copies(session))
        step.run("Analysing the attempt", lambda: _analyse(session))
    session.refresh_from_db()
    return DemoAttempt(session, changed, list(Flag.objects.filter(session=session).order_by("start_seconds", "pk")))


class _Steps:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def run(self, message: str, step: Callable[[], T]) -> T:
        self.say(f"{message}…")
        began = time.perf_counter()
        result = step()
        self.say(f"  done in {time.perf_counter() - began:.1f} s")
        return result


@transaction.atomic
def _take_exam(course: Course, student: Any, *, webcam: bytes, screen: bytes) -> ExamSession:
    """Everything up to the finalised recordings, in one transaction: a failure leaves no half-made
    attempt behind (at most some sealed chunks that no row refers to)."""
    exam = _quiz(course)
    policy = consent_policy_for(exam)
    if policy is None:
        raise DemoUnavailable("The demo consent policy is missing: run `manage.py seed_demo` first.")
    session = session_open(exam=exam, student=student)
    session = session_consent(session_id=session.pk, policy_id=policy.pk, actor=student)
    if not biometric_consent_in_force(user_id=student.pk):
        notice = biometric_notice_current()
        if notice is None:
            raise DemoUnavailable("No face-matching notice is in effect: the demo attempt uses face matching.")
        biometric_consent_answer(user=student, notice_version=notice.version, agreed=True)
    if not IdentityProfile.objects.filter(user=student, template_sealed__isnull=False).exists():
        identity_enrol(user=student, frames=[media.demo_enrolment_photo()] * 3)
    check, attestation = identity_verify(user=student, frame=media.demo_check_frame(), reference=str(session.pk))
    if attestation is None:
        raise DemoUnavailable(
            f"{student.get_full_name()} has enrolled a face other than the demo photo (distance {check.distance}). "
            "Start from an empty data folder to make the demo attempt."
        )
    session_checks_passed(
        session_id=session.pk,
        results={"camera": "ok", "microphone": "ok", "screen": "monitor", "upload_kbit": 5000},
        identity_attestation=attestation,
        actor=student,
    )
    session = session_begin(session_id=session.pk, actor=student)
    assert session.started_at is not None
    assert session.deadline is not None
    # The recording takes no time to upload here, so the attempt is placed as having begun one
    # recording's length ago: the submit then comes when the recording ends, as in a browser.
    began = session.started_at - timedelta(seconds=media.DEMO_SECONDS)
    deadline = session.deadline - timedelta(seconds=media.DEMO_SECONDS)
    ExamSession.objects.filter(pk=session.pk).update(started_at=began, deadline=deadline)
    for kind, data in ((StreamKind.WEBCAM, webcam), (StreamKind.SCREEN, screen)):
        _upload(session, student, kind=kind, webm=data, began=began)
    for signal, at in media.DEMO_SIGNALS:
        browser_signal_record(session=session, kind=signal, client_time=began + timedelta(seconds=at), detail={})
    for item, question in zip(media.DEMO_QUESTIONS, exam.questions.order_by("position"), strict=True):
        choice = question.choices.get(position=item.answer + 1)
        answer_save(session_id=session.pk, question_id=question.pk, choice_id=choice.pk, actor=student)
    session = session_submit(session_id=session.pk, actor=student)
    session_recordings_finalise(session=session, actor=student)
    audit_record(
        actor=None,
        action=AuditAction.DEMO_RECORD_ATTEMPT,
        target=session,
        detail={"student": student.username, "backdated_seconds": media.DEMO_SECONDS},
    )
    return session


def _quiz(course: Course) -> Exam:
    """The demo quiz (webcam, microphone and screen recorded), open from an hour before the attempt
    to a few minutes after its time runs out."""
    existing = Exam.objects.filter(course=course, title=EXAM_TITLE).first()
    if existing is not None:
        return existing
    now = timezone.now()
    exam = Exam.objects.create(
        course=course,
        title=EXAM_TITLE,
        instructions="Answer both questions. You may use a calculator, but no notes or other websites.",
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(minutes=15),
        duration_minutes=media.DEMO_MINUTES,
        alternative_arrangement="Sit the exam in person in the physics building, room 2.14, with nothing recorded.",
        alternative_contact="Iris Instructor, instructor@demo.invalid",
        published_at=now,
    )
    for position, item in enumerate(media.DEMO_QUESTIONS, start=1):
        question = Question.objects.create(
            exam=exam, position=position, prompt=item.prompt, kind=QuestionKind.SINGLE_CHOICE
        )
        for index, text in enumerate(item.choices):
            Choice.objects.create(question=question, position=index + 1, text=text, is_correct=index == item.correct)
    return exam


def _upload(session: ExamSession, student: Any, *, kind: str, webm: bytes, began: Any) -> Recording:
    """One stream in numbered chunks of about media.CHUNK_SECONDS each, with the browser's time of each."""
    recording = recording_start(session=session, kind=kind, mime_type=MIME_TYPES[StreamKind(kind)], actor=student)
    for seq, piece in enumerate(media.chunked(webm, media.DEMO_SECONDS)):
        at = began + timedelta(seconds=seq * media.CHUNK_SECONDS)
        recording_append_chunk(recording=recording, seq=seq, data=piece, client_time=at)
    return recording


def _playback_copies(session: ExamSession) -> None:
    # A worker may be making them too: the service is idempotent, and whoever finishes second drops its copy.
    for recording_id in Recording.objects.filter(session=session).values_list("pk", flat=True):
        recording_make_playback_copy(recording_id=recording_id)


def _analyse(session: ExamSession) -> None:
    """Run the analysis here, unless a Celery worker got to it first: then wait for the worker (taking
    over should it stop, as the service does after its heartbeat goes quiet)."""
    give_up = time.monotonic() + WORKER_WAIT_SECONDS
    while True:
        analysis_run(session_id=session.pk)
        status = ExamSession.objects.filter(pk=session.pk).values_list("status", flat=True).get()
        if status not in AWAITING_ANALYSIS:
            return
        if time.monotonic() > give_up:
            raise DemoUnavailable(
                f"The analysis of the demo attempt has not finished after {WORKER_WAIT_SECONDS:.0f} s; "
                "run the command again later."
            )
        time.sleep(2)
