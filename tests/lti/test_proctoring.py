"""IMS LTI Proctoring Services, the tool's side (issue 16, item 3): LtiStartProctoring opens the attempt's
session and leads to consent and the checks; the exam page shows the LMS's assessment; LtiStartAssessment
echoes what the LMS sent, signed by Invigil; LtiEndAssessment ends the attempt."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exams.models import Delivery, Exam, ExamSession, SessionStatus
from exams.services import session_consent
from lti.keys import key_set
from lti.launch import CLAIM
from lti.models import LtiContext, Platform, ProctoringAttempt, ResourceLink
from lti.proctoring import ACS, ATTEMPT_NUMBER, END_ASSESSMENT_RETURN, SESSION_DATA, START_ASSESSMENT_URL
from proctor.models import AuditEvent
from tests.conftest import World
from tests.factories import ExamFactory
from tests.lti.conftest import INSTRUCTOR, ISSUER, Lms, made_from_launches, refusals

pytestmark = pytest.mark.django_db

START_URL = "https://lms.example.edu/mod/quiz/startattempt.php"
CONTROL_URL = "https://lms.example.edu/acs"


@pytest.fixture
def lms_exam(world: World, platform: Platform, linked_course: LtiContext) -> Exam:
    """An exam of the LMS, set up and published, standing for the LMS's quiz "quiz-7"."""
    exam = ExamFactory(course=world.course, title="Quiz in the LMS", delivery=Delivery.LMS)
    ResourceLink.objects.create(platform=platform, resource_link_id="quiz-7", context=linked_course, exam=exam)
    return exam


def start_proctoring(lms: Lms, **changes: Any) -> Any:
    return lms.launch(
        **{
            CLAIM + "message_type": "LtiStartProctoring",
            CLAIM + "resource_link": {"id": "quiz-7", "title": "Quiz 7"},
            START_ASSESSMENT_URL: START_URL,
            SESSION_DATA: "lms-session-data-1",
            ATTEMPT_NUMBER: 1,
            ACS: {"assessment_control_url": CONTROL_URL, "actions": ["flag", "pause", "resume", "terminate"]},
            CLAIM + "launch_presentation": {"return_url": "https://lms.example.edu/course/view.php?id=7"},
            **changes,
        }
    )


def end_assessment(lms: Lms, **changes: Any) -> Any:
    return lms.launch(
        **{
            CLAIM + "message_type": "LtiEndAssessment",
            CLAIM + "resource_link": {"id": "quiz-7"},
            ATTEMPT_NUMBER: 1,
            **changes,
        }
    )


def started(session: ExamSession) -> ExamSession:
    """The student pressed Start (the checks are tested elsewhere)."""
    ExamSession.objects.filter(pk=session.pk).update(status=SessionStatus.STARTED, started_at=timezone.now())
    session.refresh_from_db()
    return session


def test_start_proctoring_opens_the_attempts_session_and_leads_to_consent(
    world: World, lms: Lms, lms_exam: Exam
) -> None:
    response = start_proctoring(lms)
    session = ExamSession.objects.get(exam=lms_exam)
    assert response.status_code == 302
    assert response["Location"] == reverse("session_exam", args=[session.pk])
    attempt = ProctoringAttempt.objects.get(session=session)
    assert (attempt.attempt_number, attempt.session_data, attempt.start_assessment_url) == (
        1,
        "lms-session-data-1",
        START_URL,
    )
    assert attempt.acs_actions == ["flag", "pause", "resume", "terminate"]
    assert session.student.lti_identities.get().sub == "lms-user-1"
    # The exam page sends a new student to consent first, as for any exam.
    assert lms.client.get(response["Location"])["Location"] == reverse("session_consent", args=[session.pk])
    assert AuditEvent.objects.filter(action="lti.start_proctoring", outcome="done").count() == 1


def test_the_exam_page_frames_the_lms_assessment_after_consent(
    world: World, lms: Lms, lms_exam: Exam, client: Client
) -> None:
    start_proctoring(lms)
    session = ExamSession.objects.get(exam=lms_exam)
    session_consent(session_id=session.pk, policy_id=world.policy.pk, actor=session.student)
    page = lms.client.get(reverse("session_exam", args=[session.pk]))
    assessment = page.context["exam_config"]["assessment"]
    assert assessment == {
        "start": reverse("lti_start_assessment", args=[session.pk]),
        "status": reverse("lti_assessment_status", args=[session.pk]),
        "display": "frame",
        "platform": "Example Moodle",
    }
    assert 'name="lms-assessment"' in page.content.decode()


def test_start_assessment_echoes_what_the_lms_sent_signed_by_invigil(world: World, lms: Lms, lms_exam: Exam) -> None:
    start_proctoring(lms)
    session = ExamSession.objects.get(exam=lms_exam)
    url = reverse("lti_start_assessment", args=[session.pk])
    early = lms.client.post(url, {"display": "frame"})
    assert early.status_code == 409  # not before the student pressed Start: recording goes with it
    started(session)
    response = lms.client.post(url, {"display": "frame"})
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # shown inside Invigil's own exam page
    assert response.context["attempt"].start_assessment_url == START_URL
    token = response.context["jwt"]
    assert f'action="{START_URL}"' in response.content.decode()
    header = jwt.get_unverified_header(token)
    public = next(k for k in key_set()["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, jwt.PyJWK(public).key, algorithms=["RS256"], audience=ISSUER)
    assert claims["iss"] == "invigil-client"
    assert claims[CLAIM + "message_type"] == "LtiStartAssessment"
    assert claims[CLAIM + "deployment_id"] == "deployment-1"
    assert claims[CLAIM + "resource_link"] == {"id": "quiz-7"}
    assert claims[SESSION_DATA] == "lms-session-data-1"
    assert claims[ATTEMPT_NUMBER] == 1
    assert claims[END_ASSESSMENT_RETURN] is True
    second = lms.client.post(url, {"display": "window"}).context["jwt"]
    assert jwt.decode(second, options={"verify_signature": False})["nonce"] != claims["nonce"]
    assert ProctoringAttempt.objects.get(session=session).display == "window"


def test_end_assessment_ends_the_attempt_where_the_assessment_was(world: World, lms: Lms, lms_exam: Exam) -> None:
    start_proctoring(lms)
    session = started(ExamSession.objects.get(exam=lms_exam))
    response = end_assessment(lms)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Back to your course" in response.content.decode()
    session.refresh_from_db()
    assert session.status == SessionStatus.SUBMITTED
    assert ProctoringAttempt.objects.get(session=session).ended_by_lms_at is not None
    status = lms.client.get(reverse("lti_assessment_status", args=[session.pk])).json()
    assert status == {"status": "submitted"}
    # The LMS saying it twice changes nothing more.
    assert end_assessment(lms).status_code == 200
    assert session.transitions.filter(to_status=SessionStatus.SUBMITTED).count() == 1


def test_end_assessment_of_an_attempt_invigil_never_started_is_refused(world: World, lms: Lms, lms_exam: Exam) -> None:
    start_proctoring(lms)
    response = end_assessment(lms, **{ATTEMPT_NUMBER: 2})
    assert response.status_code == 400
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # shown in the exam page's frame, not blank
    assert [e.detail["reason"] for e in refusals()] == ["unknown_attempt"]


def test_each_attempt_of_the_lms_is_a_session_and_a_relaunch_resumes_it(world: World, lms: Lms, lms_exam: Exam) -> None:
    start_proctoring(lms)
    start_proctoring(lms, **{SESSION_DATA: "lms-session-data-1b"})  # the same attempt again, new data
    start_proctoring(lms, **{ATTEMPT_NUMBER: 2, SESSION_DATA: "second"})
    sessions = ExamSession.objects.filter(exam=lms_exam).order_by("attempt_number")
    assert [s.attempt_number for s in sessions] == [1, 2]
    assert [a.session_data for a in ProctoringAttempt.objects.order_by("attempt_number")] == [
        "lms-session-data-1b",
        "second",
    ]


def test_an_ended_attempt_cannot_be_started_again(world: World, lms: Lms, lms_exam: Exam) -> None:
    start_proctoring(lms)
    started(ExamSession.objects.get(exam=lms_exam))
    end_assessment(lms)
    response = start_proctoring(lms)
    assert response.status_code == 409
    assert "This attempt is over" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({ATTEMPT_NUMBER: "first"}, "malformed_claim"),
        ({ATTEMPT_NUMBER: 0}, "malformed_claim"),
        ({START_ASSESSMENT_URL: "javascript:alert(1)"}, "malformed_claim"),
        ({START_ASSESSMENT_URL: "http://lms.example.edu/start"}, "insecure_url"),
        ({SESSION_DATA: None}, "missing_claim"),
        ({SESSION_DATA: "x" * 9000}, "malformed_claim"),
        ({START_ASSESSMENT_URL: None}, "missing_claim"),
    ],
)
def test_a_start_proctoring_launch_with_bad_claims_is_refused_and_makes_nothing(
    world: World, lms: Lms, lms_exam: Exam, changes: dict[str, Any], reason: str
) -> None:
    before = made_from_launches()
    sessions = ExamSession.objects.count()
    response = start_proctoring(lms, **changes)
    assert response.status_code == 400
    assert [e.detail["reason"] for e in refusals()] == [reason]
    assert made_from_launches() == before
    assert ExamSession.objects.count() == sessions
    assert not ProctoringAttempt.objects.exists()


def test_a_student_of_an_assessment_not_set_up_is_refused_and_an_instructor_makes_its_draft(
    world: World, lms: Lms, linked_course: LtiContext
) -> None:
    exams = Exam.objects.count()
    response = start_proctoring(lms)
    assert response.status_code == 400
    assert "not set up in Invigil yet" in response.content.decode()
    assert Exam.objects.count() == exams
    assert not ExamSession.objects.filter(exam__delivery=Delivery.LMS).exists()

    teacher = Lms(lms.key, Client())
    response = start_proctoring(teacher, sub="lms-teacher-1", **{CLAIM + "roles": [INSTRUCTOR]})
    draft = Exam.objects.get(delivery=Delivery.LMS)
    assert response["Location"] == reverse("exam_setup", args=[draft.pk])
    assert (draft.title, draft.course, draft.published) == ("Quiz 7", world.course, False)
    assert ResourceLink.objects.get(resource_link_id="quiz-7").exam == draft
    assert not ExamSession.objects.filter(exam=draft).exists()


def test_a_link_to_an_exam_written_in_invigil_is_not_proctored_as_an_lms_assessment(
    world: World, lms: Lms, platform: Platform, linked_course: LtiContext
) -> None:
    ResourceLink.objects.create(platform=platform, resource_link_id="quiz-7", context=linked_course, exam=world.exam)
    response = start_proctoring(lms)
    assert response.status_code == 403
    assert [e.detail["reason"] for e in refusals()] == ["not_an_lms_exam"]


def test_an_lms_assessment_that_requires_safe_exam_browser_opens_only_in_it(
    world: World, lms: Lms, lms_exam: Exam
) -> None:
    from lockdown.models import SafeExamBrowserRequirement
    from tests.lockdown.conftest import MAC_FILE, MAC_KEY, absolute, seb_headers

    SafeExamBrowserRequirement.objects.create(
        exam=lms_exam, required=True, config_file=MAC_FILE, config_file_name="quiz.seb", config_key=MAC_KEY
    )
    start_proctoring(lms)
    session = started(ExamSession.objects.get(exam=lms_exam))
    url = reverse("lti_start_assessment", args=[session.pk])
    refused = lms.client.post(url, {"display": "frame"})
    assert refused.status_code == 403
    assert "jwt" not in (refused.context or {})
    assert ProctoringAttempt.objects.get(session=session).assessment_sent_at is None
    status = reverse("lti_assessment_status", args=[session.pk])
    assert lms.client.get(status).status_code == 403
    assert lms.client.get(status, **seb_headers(absolute(status))).status_code == 200
    sent = lms.client.post(url, {"display": "frame"}, **seb_headers(absolute(url)))
    assert sent.status_code == 200
    assert sent.context["jwt"]


def test_a_start_proctoring_shown_in_the_lms_frame_opens_the_exam_page_in_a_window(
    world: World, lms: Lms, lms_exam: Exam
) -> None:
    from tests.lti.test_handover import form_field

    response = start_proctoring(
        lms, **{CLAIM + "launch_presentation": {"document_target": "iframe", "return_url": "https://lms.example.edu/x"}}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Open Quiz in the LMS in a new window" in html
    session = ExamSession.objects.get(exam=lms_exam)
    window = Client()
    opened = window.post("/lti/continue/", {"handover": form_field(html, "handover")})
    assert opened["Location"] == reverse("session_exam", args=[session.pk])
    # The window is signed in as the student: the exam page sends them on to consent.
    assert window.get(opened["Location"])["Location"] == reverse("session_consent", args=[session.pk])


@pytest.mark.parametrize("problem", ["unpublished", "closed"])
def test_a_refusal_after_provisioning_leaves_nothing_behind(
    world: World, lms: Lms, lms_exam: Exam, problem: str
) -> None:
    if problem == "unpublished":
        lms_exam.published_at = None
    else:
        lms_exam.closes_at = timezone.now() - timezone.timedelta(minutes=1)
        lms_exam.opens_at = lms_exam.closes_at - timezone.timedelta(hours=1)
    lms_exam.save()
    before, sessions = made_from_launches(), ExamSession.objects.count()
    response = start_proctoring(lms, sub="a-new-student")
    assert response.status_code == 403
    assert "Nothing was created" in response.content.decode()
    assert [e.detail["reason"] for e in refusals()] == ["exam_unavailable"]
    assert made_from_launches() == before
    assert ExamSession.objects.count() == sessions


@pytest.mark.parametrize(
    "url",
    ["https://elsewhere.example/acs", "http://lms.example.edu/acs", "https://169.254.169.254/latest/"],
)
def test_an_assessment_control_url_off_the_platforms_hosts_or_in_the_clear_is_not_used(
    world: World, lms: Lms, lms_exam: Exam, url: str
) -> None:
    start_proctoring(lms, **{ACS: {"assessment_control_url": url, "actions": ["flag"]}})
    attempt = ProctoringAttempt.objects.get()
    assert (attempt.acs_url, attempt.acs_actions) == ("", [])


def test_another_lms_item_bound_to_the_same_exam_takes_over_the_attempts_link(
    world: World, lms: Lms, lms_exam: Exam, platform: Platform, linked_course: LtiContext
) -> None:
    ResourceLink.objects.create(platform=platform, resource_link_id="quiz-7-copy", context=linked_course, exam=lms_exam)
    start_proctoring(lms)
    start_proctoring(lms, **{CLAIM + "resource_link": {"id": "quiz-7-copy"}, SESSION_DATA: "from the copy"})
    attempt = ProctoringAttempt.objects.get()
    assert (attempt.resource_link_id, attempt.session_data) == ("quiz-7-copy", "from the copy")
