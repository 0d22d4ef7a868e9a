"""Consent policies with versions and a scope: which version an exam asks for, consent to that exact
version (and again when a newer one takes effect before the start), and the counts admins see."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exams.models import ConsentPolicy, ConsentRecord, Exam, ExamSession, SessionStatus
from exams.notice import notice_for_exam
from exams.selectors import consent_policy_for, exams_with_consent_counts
from exams.services import (
    ConsentNeeded,
    ExamUnavailable,
    TransitionError,
    answer_save,
    session_begin,
    session_checks_passed,
    session_consent,
    session_decline,
    session_open,
)
from proctor.attestations import identity_attest
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, client_as, refusals_expected
from tests.factories import (
    ConsentPolicyFactory,
    ExamFactory,
    ExamSessionFactory,
    InstitutionFactory,
    QuestionFactory,
    UserFactory,
    enrol,
)

S = SessionStatus
CHECKS = {"camera": "ok", "microphone": "ok", "screen": "monitor", "upload_kbit": 5000}


def today() -> dt.date:
    return timezone.localdate()


def policy(world: World, *, version: int, effective_from: dt.date | None = None, **scope: Any) -> ConsentPolicy:
    """A version for the world's institution; ``course=`` or ``exam=`` narrows its scope."""
    return ConsentPolicyFactory(
        institution=world.course.institution,
        version=version,
        effective_from=effective_from or today(),
        text=f"Policy text, version {version} ({', '.join(scope) or 'institution'}).",
        **scope,
    )


def ready(world: World) -> ExamSession:
    """The student consented to the policy in effect and passed the checks; not started."""
    student = world.users["student"]
    session_consent(session_id=world.session.pk, policy_id=consent_policy_for(world.exam).pk, actor=student)
    attestation = identity_attest(user_id=student.pk, reference=str(world.session.pk), method="face_match")
    return session_checks_passed(
        session_id=world.session.pk, results=CHECKS, identity_attestation=attestation, actor=student
    )


# --- Which version an exam asks for ----------------------------------------------------------------


def test_an_institution_wide_policy_applies_to_every_exam_of_the_institution(world: World) -> None:
    assert consent_policy_for(world.exam) == world.policy
    assert consent_policy_for(world.other_exam) == world.policy


def test_the_exams_own_policy_beats_its_courses_which_beats_the_institutions(world: World) -> None:
    for_course = policy(world, version=1, course=world.course)
    assert consent_policy_for(world.exam) == for_course
    assert consent_policy_for(world.other_exam) == world.policy  # another course of the same institution
    for_exam = policy(world, version=1, exam=world.exam)
    assert consent_policy_for(world.exam) == for_exam
    assert consent_policy_for(ExamFactory(course=world.course)) == for_course
    # A higher version number in a broader scope does not beat a narrower scope.
    policy(world, version=9)
    assert consent_policy_for(world.exam) == for_exam


def test_the_highest_version_in_effect_wins_within_a_scope(world: World) -> None:
    policy(world, version=3, effective_from=today() - timedelta(days=10))
    policy(world, version=2, effective_from=today() - timedelta(days=20))
    policy(world, version=4, effective_from=today() + timedelta(days=1))
    assert consent_policy_for(world.exam).version == 3


def test_a_version_that_takes_effect_tomorrow_is_not_used_until_then(world: World) -> None:
    tomorrow = today() + timedelta(days=1)
    newer = policy(world, version=2, effective_from=tomorrow)
    own = policy(world, version=1, exam=world.exam, effective_from=tomorrow)
    assert consent_policy_for(world.exam) == world.policy
    assert consent_policy_for(world.exam, on=tomorrow) == own
    assert consent_policy_for(world.other_exam, on=tomorrow) == newer
    noon_tomorrow = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(12)))
    with time_machine.travel(noon_tomorrow):
        assert consent_policy_for(world.exam) == own


def test_another_institutions_policy_never_applies(world: World) -> None:
    elsewhere = InstitutionFactory()
    ConsentPolicyFactory(institution=elsewhere, version=50)
    # Even a row naming this course, were it ever saved without its checks, stays with its own institution.
    ConsentPolicyFactory(institution=elsewhere, course=world.course, version=51)
    ConsentPolicyFactory(institution=elsewhere, exam=world.exam, version=52)
    assert consent_policy_for(world.exam) == world.policy
    other_institutions_exam = ExamFactory(with_policy=False)
    assert consent_policy_for(other_institutions_exam) is None


def test_an_exam_with_no_policy_in_effect_cannot_be_started_and_the_student_is_told_why(world: World) -> None:
    ConsentPolicy.objects.all().update(effective_from=today() + timedelta(days=7))
    newcomer = UserFactory(username="newcomer")
    enrol(newcomer, world.course, "student")
    with pytest.raises(ExamUnavailable, match="no consent policy in effect yet"):
        session_open(exam=world.exam, student=newcomer)
    with pytest.raises(TransitionError, match="no consent policy in effect yet"):
        session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    assert ConsentRecord.objects.count() == 0

    client = client_as(world, "student")
    lobby = client.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "no consent policy in effect yet" in lobby
    assert "privacy office" in lobby
    assert "Continue to consent" not in lobby
    consent_page = client.get(reverse("session_consent", args=[world.session.pk]))
    assert consent_page.status_code == 200
    assert "no consent policy in effect yet" in consent_page.content.decode()
    assert "Agree and continue" not in consent_page.content.decode()
    opened = client_as(world, "other_student").post(reverse("exam_open", args=[world.exam.pk]), follow=True)
    assert "no consent policy in effect yet" in opened.content.decode()
    instructor_page = client_as(world, "instructor").get(reverse("exam_detail", args=[world.exam.pk]))
    assert "None in effect yet" in instructor_page.content.decode()


# --- The model's rules -----------------------------------------------------------------------------


def test_a_policy_is_for_a_course_or_an_exam_never_both(world: World) -> None:
    both = ConsentPolicy(
        institution=world.course.institution,
        course=world.course,
        exam=world.exam,
        name="Both",
        version=1,
        text="…",
        effective_from=today(),
    )
    with pytest.raises(ValidationError, match="choose a course or an exam, not both") as refused:
        both.full_clean()
    assert len(refused.value.messages) == 1  # said once, in plain words
    with pytest.raises(IntegrityError), transaction.atomic():
        both.save()


@pytest.mark.parametrize("scope", ["course", "exam"])
def test_a_policy_is_only_for_a_course_or_exam_of_its_own_institution(world: World, scope: str) -> None:
    foreign = ConsentPolicy(
        institution=InstitutionFactory(), name="Elsewhere", version=1, text="…", effective_from=today()
    )
    setattr(foreign, scope, world.course if scope == "course" else world.exam)
    with pytest.raises(ValidationError, match=f"Choose an? {scope} of the policy's institution"):
        foreign.full_clean()


def test_version_numbers_are_unique_within_a_scope_and_may_repeat_across_scopes(world: World) -> None:
    policy(world, version=1, course=world.course)
    policy(world, version=1, exam=world.exam)
    policy(world, version=1, course=world.other_course)
    for scope in ({}, {"course": world.course}, {"exam": world.exam}):
        again = ConsentPolicy(
            institution=world.course.institution, name="Again", version=1, text="…", effective_from=today(), **scope
        )
        with pytest.raises(ValidationError, match="already has a consent policy with this version number"):
            again.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            again.save()


def test_the_admin_refuses_a_policy_for_a_course_and_an_exam_and_saves_nothing(world: World) -> None:
    client = client_as(world, "admin")
    count = ConsentPolicy.objects.count()
    response = client.post(
        reverse("admin:exams_consentpolicy_add"),
        {
            "institution": world.course.institution.pk,
            "name": "Both",
            "version": 5,
            "effective_from": today().isoformat(),
            "course": world.course.pk,
            "exam": world.exam.pk,
            "text": "…",
        },
    )
    assert response.status_code == 200
    assert "choose a course or an exam, not both" in response.content.decode()
    assert ConsentPolicy.objects.count() == count


def test_the_admin_lists_policies_by_scope(world: World) -> None:
    policy(world, version=1, course=world.course)
    policy(world, version=1, exam=world.exam)
    client = client_as(world, "admin")
    url = reverse("admin:exams_consentpolicy_changelist")
    page = client.get(url).content.decode()
    cell = '<td class="field-scope">{}</td>'.format
    assert cell("Institution") in page
    assert cell("Course PHYS101") in page
    assert cell("Exam PHYS101: Midterm") in page
    only_courses = client.get(url, {"scope": "course"}).content.decode()
    assert cell("Course PHYS101") in only_courses
    assert cell("Exam PHYS101: Midterm") not in only_courses
    assert cell("Institution") not in only_courses


def test_a_version_students_answered_cannot_be_edited_in_the_admin(world: World) -> None:
    client = client_as(world, "admin")
    url = reverse("admin:exams_consentpolicy_change", args=[world.policy.pk])
    assert 'name="text"' in client.get(url).content.decode()
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    assert 'name="text"' not in client.get(url).content.decode()


# --- Consent to the exact version, and again for a new one ------------------------------------------


def test_consent_is_recorded_for_the_version_in_effect_with_its_time(world: World) -> None:
    own = policy(world, version=3, exam=world.exam)
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        session_consent(session_id=world.session.pk, policy_id=own.pk, actor=world.users["student"])
    record = ConsentRecord.objects.get()
    assert (record.session, record.policy, record.policy_version, record.decision) == (
        world.session,
        own,
        3,
        "consented",
    )
    assert record.at == moment


def test_a_form_for_the_same_number_in_a_broader_scope_is_refused_and_nothing_recorded(world: World) -> None:
    # The student read the institution's version 1; the exam's own version 1 took effect meanwhile.
    policy(world, version=1, exam=world.exam)
    with pytest.raises(TransitionError, match="changed to version 1. Please read it again"):
        session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    assert ConsentRecord.objects.count() == 0
    world.session.refresh_from_db()
    assert world.session.status == S.CREATED


def test_declining_a_version_no_longer_in_effect_shows_the_new_one_and_keeps_the_reason(world: World) -> None:
    newer = policy(world, version=2)
    response = client_as(world, "student").post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": world.policy.pk, "reason": "No webcam.", "notice": notice_for_exam(world.exam).sha256},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "changed to version 2. Please read it again before you decline" in body
    assert newer.text in body
    assert ">No webcam.</textarea>" in body
    assert ConsentRecord.objects.count() == 0
    world.session.refresh_from_db()
    assert world.session.status == S.CREATED


def test_a_newer_version_after_consent_asks_again_before_the_start_and_keeps_both_records(world: World) -> None:
    ready(world)
    newer = policy(world, version=2)
    with pytest.raises(ConsentNeeded, match="changed to version 2 since you agreed"):
        session_begin(session_id=world.session.pk, actor=world.users["student"])

    client = client_as(world, "student")
    begin = client.post(reverse("api_session_begin", args=[world.session.pk]), content_type="application/json")
    consent_url = reverse("session_consent", args=[world.session.pk])
    assert begin.status_code == 409
    assert begin.json()["consent_url"] == consent_url
    exam_page = client.get(reverse("session_exam", args=[world.session.pk]))
    assert exam_page.status_code == 302
    assert exam_page["Location"] == consent_url
    lobby = client.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "changed to version 2 since you agreed" in lobby
    page = client.get(consent_url).content.decode()
    assert "changed since you agreed to version 1" in page
    assert newer.text in page
    assert "Agree and continue" in page

    agreed = client.post(
        consent_url, {"policy": newer.pk, "agree": "on", "notice": notice_for_exam(world.exam).sha256}, follow=True
    )
    assert "Your consent to version 2 is recorded" in agreed.content.decode()
    records = ConsentRecord.objects.filter(session=world.session).order_by("at", "pk")
    assert [(r.policy, r.decision) for r in records] == [(world.policy, "consented"), (newer, "consented")]
    world.session.refresh_from_db()
    assert world.session.status == S.READY  # the checks still stand
    renewed = AuditEvent.objects.get(action="session.consent_renewed")
    assert renewed.detail["version"] == 2
    assert renewed.detail["previous_version"] == 1
    assert session_begin(session_id=world.session.pk, actor=world.users["student"]).status == S.STARTED


def test_consenting_again_to_the_same_version_is_refused_and_adds_nothing(world: World) -> None:
    ready(world)
    with pytest.raises(TransitionError, match="consent to version 1 is already recorded"):
        session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    assert ConsentRecord.objects.count() == 1


def test_a_student_asked_about_a_new_version_may_decline_it_instead(world: World) -> None:
    ready(world)
    newer = policy(world, version=2)
    request = session_decline(
        session_id=world.session.pk, policy_id=newer.pk, reason="Not with these terms.", actor=world.users["student"]
    )
    assert request.status == "open"
    world.session.refresh_from_db()
    assert world.session.status == S.DECLINED
    assert list(world.session.consents.values_list("policy_version", "decision")) == [
        (1, "consented"),
        (2, "declined"),
    ]


def test_an_attempt_under_way_is_not_interrupted_by_a_new_version(world: World) -> None:
    essay = QuestionFactory(exam=world.exam)
    ready(world)
    session_begin(session_id=world.session.pk, actor=world.users["student"])
    policy(world, version=2)
    page = client_as(world, "student").get(reverse("session_exam", args=[world.session.pk]))
    assert page.status_code == 200
    answer_save(session_id=world.session.pk, question_id=essay.pk, text="Still going.", actor=world.users["student"])
    assert ConsentRecord.objects.count() == 1


def test_the_students_next_session_asks_for_the_new_version(world: World) -> None:
    ready(world)
    newer = policy(world, version=2)
    final = ExamFactory(course=world.course, title="Final")
    session = session_open(exam=final, student=world.users["student"])
    page = client_as(world, "student").get(reverse("session_consent", args=[session.pk])).content.decode()
    assert "version 2" in page
    assert newer.text in page


# --- Declining, and the instructor's answer ---------------------------------------------------------


def declined(world: World, reason: str = "I share a room and cannot be filmed.") -> Any:
    return session_decline(
        session_id=world.session.pk, policy_id=world.policy.pk, reason=reason, actor=world.users["student"]
    )


def test_a_student_declines_the_instructor_answers_and_the_student_sees_the_answer(world: World) -> None:
    student = client_as(world, "student")
    done = student.post(
        reverse("session_decline", args=[world.session.pk]),
        {
            "policy": world.policy.pk,
            "reason": "I share a room and cannot be filmed.",
            "notice": notice_for_exam(world.exam).sha256,
        },
    )
    # The exam's alternative is offered at once; the instructors may still add details.
    assert world.exam.alternative_arrangement in done.content.decode()
    assert "their answer appears on" in done.content.decode()
    assert reverse("exam_lobby", args=[world.exam.pk]) in done.content.decode()
    lobby = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "Waiting for your instructor's answer" in lobby

    instructor = client_as(world, "instructor")
    exam_page = reverse("exam_detail", args=[world.exam.pk])
    listed = instructor.get(exam_page).content.decode()
    assert "I share a room and cannot be filmed." in listed
    assert "Waiting for the instructor" in listed
    request = world.session.alternative_request
    answer = "Sit it in room 2.14 on Friday at 10:00, with an invigilator."
    sent = instructor.post(reverse("alternative_answer", args=[request.pk]), {"response": f"  {answer}\n"})
    assert sent.status_code == 302
    assert sent["Location"] == f"{exam_page}#alternative-{request.pk}"
    request.refresh_from_db()
    assert (request.status, request.response, request.answered_by) == ("answered", answer, world.users["instructor"])
    assert request.answered_at is not None
    event = AuditEvent.objects.get(action="alternative.answer")
    assert event.detail == {"session": str(world.session.pk), "previous_status": "open", "response_chars": len(answer)}
    assert answer not in str(event.detail)  # the log records that there is an answer, not its words

    lobby = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "Your instructor's answer" in lobby
    assert answer in lobby
    assert (
        answer
        not in client_as(world, "other_student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    )


def test_an_instructor_can_change_their_answer(world: World) -> None:
    request = declined(world)
    instructor = client_as(world, "instructor")
    url = reverse("alternative_answer", args=[request.pk])
    instructor.post(url, {"response": "Room 2.14, Friday."})
    instructor.post(url, {"response": "Room 3.01, Friday."})
    request.refresh_from_db()
    assert request.response == "Room 3.01, Friday."
    last = AuditEvent.objects.filter(action="alternative.answer").latest("seq")
    assert last.detail["previous_status"] == "answered"


@pytest.mark.parametrize("response", ["", "   \n ", "x" * 5001])
def test_an_empty_or_overlong_answer_is_refused_with_a_clear_error_and_changes_nothing(
    world: World, response: str
) -> None:
    request = declined(world)
    instructor = client_as(world, "instructor")
    audit_before = AuditEvent.objects.count()  # after signing in, which is audited itself
    page = instructor.post(reverse("alternative_answer", args=[request.pk]), {"response": response})
    assert page.status_code == 400
    body = page.content.decode()
    assert "Your answer was not sent" in body
    assert ("Write your answer" if not response.strip() else "Keep the answer under 5,000 characters") in body
    assert 'aria-invalid="true"' in body
    request.refresh_from_db()
    assert (request.status, request.response, request.answered_by) == ("open", "", None)
    assert AuditEvent.objects.count() == audit_before


ANSWERERS = {"instructor", "admin"}


@pytest.mark.parametrize("role", ROLES)
def test_only_the_courses_instructors_and_admins_answer_a_request(world: World, role: str) -> None:
    request = declined(world)
    client = client_as(world, role)
    audit_before = AuditEvent.objects.count()
    response = client.post(reverse("alternative_answer", args=[request.pk]), {"response": "Room 2.14, Friday."})
    request.refresh_from_db()
    if role in ANSWERERS:
        assert response.status_code == 302
        assert (request.status, request.answered_by) == ("answered", world.users[role])
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert (request.status, request.response) == ("open", "")
    assert audit_added_since(audit_before) == refusals_expected(role)


@pytest.mark.parametrize("role", ["instructor", "admin", "reviewer"])
def test_the_exam_page_shows_the_requests_only_to_those_who_answer_them(world: World, role: str) -> None:
    declined(world)
    body = client_as(world, role).get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    shows = role in ANSWERERS
    assert ("Requests for an alternative arrangement" in body) is shows
    assert ("I share a room and cannot be filmed." in body) is shows


def test_answering_an_unknown_request_is_a_404(world: World) -> None:
    response = client_as(world, "admin").post(reverse("alternative_answer", args=[999_999]), {"response": "x"})
    assert response.status_code == 404


def test_open_requests_come_first_and_an_exam_without_any_says_so(world: World) -> None:
    instructor = client_as(world, "instructor")
    url = reverse("exam_detail", args=[world.exam.pk])
    assert "No requests for an alternative arrangement." in instructor.get(url).content.decode()
    first = declined(world, reason="First, answered.")
    instructor.post(reverse("alternative_answer", args=[first.pk]), {"response": "Room 2.14."})
    session_decline(
        session_id=world.other_session.pk,
        policy_id=world.policy.pk,
        reason="Second, still open.",
        actor=world.users["other_student"],
    )
    body = instructor.get(url).content.decode()
    assert "No requests for an alternative arrangement." not in body
    assert body.index("Second, still open.") < body.index("First, answered.")


# --- Counts for admins and instructors --------------------------------------------------------------


def answered(world: World) -> None:
    """The student consents to version 1, then again to version 2; the other student declines."""
    ready(world)
    newer = policy(world, version=2)
    session_consent(session_id=world.session.pk, policy_id=newer.pk, actor=world.users["student"])
    session_decline(
        session_id=world.other_session.pk, policy_id=newer.pk, reason="", actor=world.users["other_student"]
    )


def test_the_admin_exam_list_counts_each_session_once_as_consented_or_declined(world: World) -> None:
    answered(world)
    page = client_as(world, "admin").get(reverse("admin:exams_exam_changelist")).content.decode()
    midterm = page[page.index(">Midterm<") :]
    midterm = midterm[: midterm.index("</tr>")]
    assert '<td class="field-consented">1</td>' in midterm
    assert '<td class="field-declined">1</td>' in midterm
    final = page[page.index(">Final<") :]
    final = final[: final.index("</tr>")]
    assert '<td class="field-consented">0</td>' in final
    assert '<td class="field-declined">0</td>' in final


def test_a_session_that_consented_and_then_declined_counts_as_declined_only(world: World) -> None:
    ready(world)
    newer = policy(world, version=2)
    session_decline(session_id=world.session.pk, policy_id=newer.pk, reason="", actor=world.users["student"])
    counts = exams_with_consent_counts(Exam.objects.filter(pk=world.exam.pk)).values(
        "consented_count", "declined_count"
    )
    assert list(counts) == [{"consented_count": 0, "declined_count": 1}]


def test_the_admin_exam_list_costs_the_same_queries_for_two_exams_or_eight(world: World) -> None:
    answered(world)
    client = client_as(world, "admin")
    url = reverse("admin:exams_exam_changelist")
    client.get(url)  # warm the session and the per-request caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(6):
        exam = ExamFactory(course=world.course)
        for _ in range(3):
            session = ExamSessionFactory(exam=exam)
            ConsentRecord.objects.create(session=session, policy=world.policy, policy_version=1, decision="consented")
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert page.count('<td class="field-consented">3</td>') == 6
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_instructors_exam_page_shows_the_counts_and_the_policy_in_effect(world: World) -> None:
    answered(world)
    body = client_as(world, "instructor").get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert "1 consented, 1 declined" in body
    assert "Recording policy version 2" in body
    assert "institution-wide" in body
    student_view = client_as(world, "student").get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert "consented," not in student_view


def test_an_admin_answers_in_the_admin_through_the_same_service_and_audit(world: World) -> None:
    alternative = declined(world)
    client = client_as(world, "admin")
    url = reverse("admin:exams_alternativerequest_change", args=[alternative.pk])

    refused = client.post(url, {"response": "   "})
    assert refused.status_code == 200
    assert "Write your answer" in refused.content.decode()
    alternative.refresh_from_db()
    assert (alternative.status, alternative.response) == ("open", "")

    assert client.post(url, {"response": "You may sit it in room 2.14 on Friday."}).status_code == 302
    alternative.refresh_from_db()
    assert (alternative.status, alternative.answered_by) == ("answered", world.users["admin"])
    event = AuditEvent.objects.get(action="alternative.answer")
    assert event.detail["response_chars"] == len("You may sit it in room 2.14 on Friday.")
    assert not AuditEvent.objects.filter(action="admin.change", target_type="exams.alternativerequest").exists()
    assert client.get(reverse("admin:exams_alternativerequest_add")).status_code == 403
    assert client.post(reverse("admin:exams_alternativerequest_delete", args=[alternative.pk])).status_code == 403
