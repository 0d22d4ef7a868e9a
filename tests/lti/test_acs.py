"""The Assessment Control Service (issue 16, item 4), against the LMS of tests/lms (lti1p3platform on
loopback): Invigil gets a token with a signed assertion and sends flag, pause, resume and terminate for an
attempt; a concern reviewers confirmed is reported as a flag; what the LMS did not offer is refused, and
what fails is recorded. Who may send is decided in lti.permissions and checked for every role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analysis.models import AnalysisRun, Flag
from exams.models import Exam, ExamSession, SessionStatus
from lti import acs
from lti.models import ControlOutcome, ControlRequest, Platform, ProctoringAttempt
from proctor.errors import Refusal
from proctor.models import AuditEvent
from review.models import FlagDecision
from tests.conftest import ROLES, World, client_as
from tests.lms.conftest import add_the_cast, rsa_key
from tests.lms.platform import START_PROCTORING, FakeLms
from tests.lti.through_the_lms import invigil_key_set, launch, lms_in_invigil, register_invigil

pytestmark = pytest.mark.django_db


@pytest.fixture
def invigil_keys(world: World) -> Iterator[str]:
    with invigil_key_set() as url:
        yield url


@pytest.fixture
def lms(world: World, invigil_keys: str) -> Iterator[FakeLms]:
    cache.clear()  # no access token from another test
    with add_the_cast(FakeLms(key=rsa_key(1))) as lms:
        register_invigil(lms, invigil_keys)
        yield lms


@pytest.fixture
def lms_exam(world: World, lms: FakeLms) -> Exam:
    return lms_in_invigil(lms, world.course)


def running_attempt(lms: FakeLms) -> ProctoringAttempt:
    """The learner's attempt, started as the browser would: the LMS's login and launch through Invigil, then
    Invigil's LtiStartAssessment accepted by the LMS."""
    browser = Client()
    launched = launch(lms, browser, START_PROCTORING, user="learner-1", resource_link="quiz-1")
    assert launched.status_code == 302, launched.content
    attempt = ProctoringAttempt.objects.select_related("session").get()
    ExamSession.objects.filter(pk=attempt.session_id).update(status=SessionStatus.STARTED, started_at=timezone.now())
    message = browser.post(reverse("lti_start_assessment", args=[attempt.session_id]), {"display": "frame"})
    quiz = requests.post(lms.start_assessment_url, data={"JWT": message.context["jwt"]}, timeout=10)
    assert quiz.status_code == 200, quiz.text
    assert lms.attempt_for(user="learner-1", resource_link="quiz-1").status == "running"
    attempt.refresh_from_db()
    return attempt


def test_flag_pause_resume_and_terminate_reach_the_lms(world: World, lms: FakeLms, lms_exam: Exam) -> None:
    attempt = running_attempt(lms)
    instructor = world.users["instructor"]
    for action, status in (
        ("flag", "running"),
        ("pause", "paused"),
        ("resume", "running"),
        ("terminate", "terminated"),
    ):
        sent = acs.control_send(attempt=attempt, action=action, reason=f"{action} by a person", actor=instructor)
        assert (sent.outcome, sent.lms_status) == (ControlOutcome.ACCEPTED, status)
    controls = lms.controls
    assert [c["action"] for c in controls] == ["flag", "pause", "resume", "terminate"]
    assert controls[0]["user"] == {"iss": lms.issuer, "sub": "learner-1"}
    assert controls[0]["resource_link"] == {"id": "quiz-1"}
    assert controls[0]["attempt_number"] == 1
    assert controls[0]["reason_msg"] == "flag by a person"
    assert len(lms.access_tokens) == 1  # one token, reused until it expires


def test_a_concern_reviewers_confirmed_is_reported_as_a_flag_at_its_time(
    world: World, lms: FakeLms, lms_exam: Exam
) -> None:
    attempt = running_attempt(lms)
    session = attempt.session
    run = AnalysisRun.objects.create(session=session, sensitivity="standard")
    flag = Flag.objects.create(
        run=run,
        session=session,
        kind="multiple_faces",
        category="conduct",
        start_seconds=90,
        end_seconds=120,
        severity="high",
        confidence=0.9,
        reason="Two faces.",
        detector="faces",
        detector_version="1",
    )
    FlagDecision.objects.create(
        flag=flag,
        verdict="confirmed",
        note="A second person reads the screen.",
        reviewer=world.users["reviewer"],
        reviewer_name="Remi Reviewer",
    )
    client = client_as(world, "instructor")
    page = reverse("lti_control", args=[session.pk])
    response = client.post(page, {"action": "flag", "flag": flag.pk, "reason": ""})
    assert response.status_code == 302, response.content
    (control,) = lms.controls
    assert control["reason_msg"] == (
        "More than one face, confirmed by a reviewer (Remi Reviewer): A second person reads the screen."
    )
    assert control["incident_severity"] == 0.9
    at = session.started_at + timedelta(seconds=90)
    assert control["incident_time"] == at.isoformat(timespec="seconds")
    body = client.get(page).content.decode()
    assert "Accepted by the LMS" in body
    assert "A second person reads the screen." in body


def test_what_the_lms_did_not_offer_is_refused_and_nothing_is_sent(world: World, lms: FakeLms, lms_exam: Exam) -> None:
    attempt = running_attempt(lms)
    attempt.acs_actions = ["flag"]
    attempt.save()
    with pytest.raises(acs.ControlUnavailable, match="does not accept"):
        acs.control_send(attempt=attempt, action="terminate", reason="Why not", actor=world.users["instructor"])
    client = client_as(world, "instructor")
    response = client.post(reverse("lti_control", args=[attempt.session_id]), {"action": "terminate", "reason": "x"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    response = client.post(reverse("lti_control", args=[attempt.session_id]), {"action": "flag", "reason": " "})
    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    assert not ControlRequest.objects.exists()
    assert lms.controls == []


def test_a_token_the_lms_refuses_is_recorded_as_not_delivered(world: World, lms: FakeLms, lms_exam: Exam) -> None:
    attempt = running_attempt(lms)
    Platform.objects.filter(pk=attempt.platform_id).update(client_id="someone-else")
    attempt.platform.refresh_from_db()
    with pytest.raises(Refusal, match="refused Invigil a token"):
        acs.control_send(attempt=attempt, action="flag", reason="Look", actor=world.users["instructor"])
    sent = ControlRequest.objects.get()
    assert (sent.outcome, sent.action) == (ControlOutcome.FAILED, "flag")
    assert lms.controls == []


@pytest.mark.parametrize("role", ROLES)
def test_who_may_see_and_send_controls(world: World, lms_exam: Exam, role: str) -> None:
    """Every role against the control page: staff see it, instructors (and admins) send; students and
    outsiders get nothing."""
    session = ExamSession.objects.create(exam=lms_exam, student=world.users["student"], status=SessionStatus.STARTED)
    ProctoringAttempt.objects.create(
        session=session,
        platform=Platform.objects.get(),
        deployment_id="deployment-1",
        resource_link_id="quiz-1",
        sub="learner-1",
        attempt_number=1,
        session_data="d",
        start_assessment_url="https://lms.invalid/start",
        acs_url="http://127.0.0.1:9/acs",
        acs_actions=["flag"],
    )
    client = client_as(world, role)
    page = reverse("lti_control", args=[session.pk])
    seen = client.get(page).status_code
    viewed = AuditEvent.objects.filter(action="lti.control_view", target_id=str(session.pk)).count()
    assert viewed == (1 if seen == 200 else 0)
    sent = client.post(page, {"action": "flag", "reason": "Look"}).status_code
    expected_view = {"instructor": 200, "reviewer": 200, "admin": 200, "anonymous": 302}.get(role, 403)
    expected_send = {"instructor": 422, "admin": 422, "anonymous": 302}.get(role, 403)  # 422: the LMS is not there
    assert (seen, sent) == (expected_view, expected_send)
    status = client.get(reverse("lti_assessment_status", args=[session.pk])).status_code
    assert status == {"student": 200, "anonymous": 302}.get(role, 403)
    start = client.post(reverse("lti_start_assessment", args=[session.pk])).status_code
    assert start == {"student": 200, "anonymous": 302}.get(role, 403)
