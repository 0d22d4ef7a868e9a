"""The student's path through an exam, as services: open, consent or decline, begin, answer, submit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from exams.models import AlternativeRequest, Answer, Choice, ConsentRecord, ExamSession, QuestionKind, SessionStatus
from exams.services import (
    ExamUnavailable,
    TransitionError,
    answer_save,
    session_begin,
    session_consent,
    session_decline,
    session_open,
    session_submit,
    session_time_out,
    session_transition,
)
from proctor.models import AuditEvent
from tests.conftest import World
from tests.factories import AccommodationFactory, ConsentPolicyFactory, ExamFactory, QuestionFactory

S = SessionStatus


def ready(world: World) -> ExamSession:
    from exams.services import session_checks_passed
    from proctor.attestations import identity_attest

    student = world.users["student"]
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=student)
    attestation = identity_attest(user_id=student.pk, reference=str(world.session.pk), method="face_match")
    return session_checks_passed(
        session_id=world.session.pk, results=CHECKS, identity_attestation=attestation, actor=student
    )


def test_opening_an_exam_creates_the_session_once(world: World) -> None:
    exam = ExamFactory(course=world.course)
    student = world.users["student"]
    first = session_open(exam=exam, student=student)
    assert session_open(exam=exam, student=student) == first
    assert AuditEvent.objects.filter(action="session.open").count() == 1


def test_an_exam_cannot_be_opened_before_its_window_or_after(world: World) -> None:
    exam = ExamFactory(
        course=world.course, opens_at=timezone.now() + timedelta(days=1), closes_at=timezone.now() + timedelta(days=2)
    )
    with pytest.raises(ExamUnavailable, match="This exam opens on"):
        session_open(exam=exam, student=world.users["student"])
    with time_machine.travel(exam.closes_at + timedelta(seconds=1)), pytest.raises(ExamUnavailable, match="closed"):
        session_open(exam=exam, student=world.users["student"])
    assert not ExamSession.objects.filter(exam=exam).exists()


def test_consent_is_recorded_for_the_exact_policy_version(world: World) -> None:
    policy = world.policy
    session = session_consent(session_id=world.session.pk, policy_id=policy.pk, actor=world.users["student"])
    assert session.status == S.CONSENTED
    record = ConsentRecord.objects.get(session=session)
    assert (record.policy, record.policy_version, record.decision) == (policy, policy.version, "consented")


def test_consent_to_an_outdated_version_is_refused_and_nothing_recorded(world: World) -> None:
    stale = world.policy.pk
    ConsentPolicyFactory(institution=world.course.institution, version=2)
    with pytest.raises(TransitionError, match="changed to version 2"):
        session_consent(session_id=world.session.pk, policy_id=stale, actor=world.users["student"])
    assert ConsentRecord.objects.count() == 0
    world.session.refresh_from_db()
    assert world.session.status == S.CREATED


def test_declining_files_a_request_for_an_alternative_arrangement(world: World) -> None:
    request = session_decline(
        session_id=world.session.pk,
        policy_id=world.policy.pk,
        reason="I share a room and cannot be filmed.",
        actor=world.users["student"],
    )
    assert request.status == "open"
    assert AlternativeRequest.objects.get().reason == "I share a room and cannot be filmed."
    world.session.refresh_from_db()
    assert world.session.status == S.DECLINED
    assert ConsentRecord.objects.get().decision == "declined"
    with pytest.raises(TransitionError):
        session_transition(
            session_id=world.session.pk, to_status=S.STARTED, actor=world.users["student"], reason="changed my mind"
        )


def test_the_deadline_includes_the_students_accommodation(world: World) -> None:
    AccommodationFactory(exam=world.exam, student=world.users["student"], time_multiplier=Decimal("1.5"))
    ready(world)
    with time_machine.travel(timezone.now(), tick=False):
        session = session_begin(session_id=world.session.pk, actor=world.users["student"])
        assert session.deadline == timezone.now() + timedelta(minutes=90)


def test_the_deadline_never_runs_past_the_exam_closing(world: World) -> None:
    world.exam.closes_at = timezone.now() + timedelta(minutes=20)
    world.exam.save()
    ready(world)
    session = session_begin(session_id=world.session.pk, actor=world.users["student"])
    assert session.deadline == world.exam.closes_at


def test_answers_are_saved_as_they_change(world: World) -> None:
    mcq = QuestionFactory(exam=world.exam, kind=QuestionKind.SINGLE_CHOICE)
    right = Choice.objects.create(question=mcq, text="Right", is_correct=True)
    wrong = Choice.objects.create(question=mcq, text="Wrong")
    essay = QuestionFactory(exam=world.exam)
    ready(world)
    session_begin(session_id=world.session.pk, actor=world.users["student"])
    student = world.users["student"]
    answer_save(session_id=world.session.pk, question_id=mcq.pk, choice_id=wrong.pk, actor=student)
    answer_save(session_id=world.session.pk, question_id=mcq.pk, choice_id=right.pk, actor=student)
    answer_save(session_id=world.session.pk, question_id=essay.pk, text="Because gravity.", actor=student)
    assert Answer.objects.get(question=mcq).choice == right
    assert Answer.objects.get(question=essay).text == "Because gravity."
    assert Answer.objects.count() == 2


@pytest.mark.parametrize("problem", ["other exam's question", "other question's choice", "too long"])
def test_bad_answers_get_a_clear_error_and_change_nothing(world: World, problem: str) -> None:
    mcq = QuestionFactory(exam=world.exam, kind=QuestionKind.SINGLE_CHOICE)
    other = QuestionFactory(exam=world.exam, kind=QuestionKind.SINGLE_CHOICE)
    foreign_choice = Choice.objects.create(question=other, text="Elsewhere")
    ready(world)
    session_begin(session_id=world.session.pk, actor=world.users["student"])
    kwargs = {
        "other exam's question": {"question_id": QuestionFactory(exam=world.other_exam).pk},
        "other question's choice": {"question_id": mcq.pk, "choice_id": foreign_choice.pk},
        "too long": {"question_id": QuestionFactory(exam=world.exam).pk, "text": "x" * 20_001},
    }[problem]
    with pytest.raises(ExamUnavailable):
        answer_save(session_id=world.session.pk, actor=world.users["student"], **kwargs)
    assert Answer.objects.count() == 0


def test_no_answer_changes_after_the_deadline_or_after_submit(world: World) -> None:
    essay = QuestionFactory(exam=world.exam)
    ready(world)
    session = session_begin(session_id=world.session.pk, actor=world.users["student"])
    student = world.users["student"]
    with (
        time_machine.travel(session.deadline + timedelta(seconds=31)),
        pytest.raises(ExamUnavailable, match="Time is up"),
    ):
        answer_save(session_id=session.pk, question_id=essay.pk, text="late", actor=student)
    session_submit(session_id=session.pk, actor=student)
    with pytest.raises(ExamUnavailable, match="no longer open"):
        answer_save(session_id=session.pk, question_id=essay.pk, text="after", actor=student)
    assert Answer.objects.count() == 0


def test_the_system_times_out_an_attempt_only_once_its_time_is_up(world: World) -> None:
    ready(world)
    session = session_begin(session_id=world.session.pk, actor=world.users["student"])
    with pytest.raises(TransitionError, match="still has time left"):
        session_time_out(session_id=session.pk)
    with time_machine.travel(session.deadline + timedelta(seconds=1)):
        assert session_time_out(session_id=session.pk).status == S.TIMED_OUT


def consented(world: World) -> ExamSession:
    return session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])


CHECKS = {"camera": "ok", "microphone": "ok", "screen": "monitor", "upload_kbit": 5000}


def test_the_system_check_needs_a_fresh_identity_attestation_for_this_session(world: World) -> None:
    from exams.services import session_checks_passed
    from proctor.attestations import identity_attest

    consented(world)
    student = world.users["student"]
    with pytest.raises(TransitionError, match="Confirm your identity first"):
        session_checks_passed(session_id=world.session.pk, results=CHECKS, identity_attestation="", actor=student)
    for_other_session = identity_attest(user_id=student.pk, reference=str(world.other_session.pk), method="face_match")
    with pytest.raises(TransitionError, match="Confirm your identity first"):
        session_checks_passed(
            session_id=world.session.pk, results=CHECKS, identity_attestation=for_other_session, actor=student
        )
    good = identity_attest(user_id=student.pk, reference=str(world.session.pk), method="face_match")
    session = session_checks_passed(
        session_id=world.session.pk, results=CHECKS, identity_attestation=good, actor=student
    )
    assert session.status == S.READY
    assert "identity: face_match" in session.transitions.latest("id").reason


def test_a_manual_check_lets_the_student_start_only_once_a_person_confirmed_it(world: World) -> None:
    from exams.services import session_checks_passed
    from identity.services import identity_manual_decide, identity_request_manual_check, identity_store_id_photo
    from tests.identity.test_identity_api import jpeg

    consented(world)
    student, reference = world.users["student"], str(world.session.pk)
    identity_store_id_photo(user=student, photo=jpeg("obama2.jpg"))
    check, attestation = identity_request_manual_check(user=student, reference=reference)
    with pytest.raises(TransitionError, match="Confirm your identity first"):
        session_checks_passed(
            session_id=world.session.pk, results=CHECKS, identity_attestation=attestation or "", actor=student
        )
    world.session.refresh_from_db()
    assert world.session.status == S.CONSENTED

    identity_manual_decide(check_id=check.pk, actor=world.users["instructor"], confirmed=True, reason="Matches.")
    _, attestation = identity_request_manual_check(user=student, reference=reference)
    session = session_checks_passed(
        session_id=world.session.pk, results=CHECKS, identity_attestation=attestation or "", actor=student
    )
    assert session.status == S.READY
    assert "identity: manual_confirmed" in session.transitions.latest("id").reason


@pytest.mark.parametrize("exemption", ["face_covering", "no_camera"])
def test_an_accommodation_switches_the_face_match_off(world: World, exemption: str) -> None:
    from exams.services import session_checks_passed

    AccommodationFactory(exam=world.exam, student=world.users["student"], **{exemption: True})
    consented(world)
    session = session_checks_passed(
        session_id=world.session.pk, results=CHECKS, identity_attestation="", actor=world.users["student"]
    )
    assert "identity: not required" in session.transitions.latest("id").reason


def test_submitting_twice_or_after_a_time_out_is_harmless(world: World) -> None:
    ready(world)
    session = session_begin(session_id=world.session.pk, actor=world.users["student"])
    with time_machine.travel(session.deadline + timedelta(minutes=2)):
        assert session_submit(session_id=session.pk, actor=world.users["student"]).status == S.TIMED_OUT
        assert session_submit(session_id=session.pk, actor=world.users["student"]).status == S.TIMED_OUT


def test_an_answer_saved_within_the_grace_after_zero_still_counts(world: World) -> None:
    essay = QuestionFactory(exam=world.exam)
    ready(world)
    session = session_begin(session_id=world.session.pk, actor=world.users["student"])
    with time_machine.travel(session.deadline + timedelta(seconds=10)):
        answer_save(session_id=session.pk, question_id=essay.pk, text="last words", actor=world.users["student"])
    assert Answer.objects.get().text == "last words"
