"""Deep linking: an instructor attaches one of their course's Invigil exams to an LMS item; the answer is a
JWT signed by Invigil that the LMS checks against /lti/jwks/, and the item then launches that exam. The
choice works inside the LMS's frame, without Invigil's session cookie."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from django.test import Client

from lti.deep_linking import PendingChoice
from lti.launch import CLAIM, DL_CLAIM
from proctor.models import AuditEvent
from tests.conftest import ROLES, World, audit_added_since, refusals_expected
from tests.lti.conftest import (
    CLIENT_ID,
    DEPLOYMENT,
    ISSUER,
    LEARNER,
    TEACHING_ASSISTANT,
    Lms,
    form_field,
    made_from_launches,
    refusals,
)

pytestmark = pytest.mark.django_db


def _choice_page(lms: Lms) -> str:
    response = lms.deep_linking()
    assert response.status_code == 200, response.content[:300]
    # Shown in the LMS's frame: no X-Frame-Options.
    assert "X-Frame-Options" not in response
    return response.content.decode()


def test_the_instructor_sees_only_their_courses_exams(world: World, lms: Lms, linked_course: Any) -> None:
    html = _choice_page(lms)
    assert f'<label for="exam-{world.exam.pk}">Midterm</label>' in html
    assert "Final" not in html
    assert "<legend>" in html


def test_the_answer_is_signed_by_invigil_echoes_data_and_names_the_exam(
    world: World, lms: Lms, linked_course: Any
) -> None:
    pending = form_field(_choice_page(lms), "pending")
    # The LMS's frame sends no Invigil cookie: a fresh client stands for it.
    frame = Client()
    assert frame.post("/lti/deep-link/", {"pending": pending, "exam": str(world.other_exam.pk)}).status_code == 400
    response = frame.post("/lti/deep-link/", {"pending": pending, "exam": str(world.exam.pk)})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'action="{ISSUER}/mod/lti/contentitem_return.php"' in html
    token = form_field(html, "JWT")
    key_set = jwt.PyJWKSet.from_dict(Client().get("/lti/jwks/").json())
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, key_set[kid].key, algorithms=["RS256"], audience=ISSUER, issuer=CLIENT_ID)
    assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[CLAIM + "version"] == "1.3.0"
    assert claims[CLAIM + "deployment_id"] == DEPLOYMENT
    assert claims[DL_CLAIM + "data"] == "opaque-data-42"
    [item] = claims[DL_CLAIM + "content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["url"] == "http://testserver/lti/launch/"
    assert item["custom"] == {"invigil_exam": str(world.exam.pk)}
    assert AuditEvent.objects.filter(action="lti.deep_link", target_id=str(world.exam.pk)).exists()
    # The LMS now launches the item with that custom parameter: a student lands in the exam's lobby.
    student = Lms(lms.key, Client())
    launched = student.launch(sub="lms-student", **{CLAIM + "custom": item["custom"]})
    assert launched["Location"] == f"/exams/{world.exam.pk}/lobby/"


def test_an_altered_choice_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    pending = form_field(_choice_page(lms), "pending")
    response = Client().post("/lti/deep-link/", {"pending": pending[:-2] + "xx", "exam": str(world.exam.pk)})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["deep_link_altered"]
    assert not AuditEvent.objects.filter(action="lti.deep_link").exists()


def test_setting_up_a_new_exam_signs_the_instructor_in_a_new_window_once(
    world: World, lms: Lms, linked_course: Any
) -> None:
    handover = form_field(_choice_page(lms), "handover")
    window = Client()
    response = window.post("/lti/continue/", {"handover": handover})
    assert response["Location"] == f"/courses/{world.course.pk}/exams/new/"
    assert window.get(response["Location"]).status_code == 200
    again = Client().post("/lti/continue/", {"handover": handover})
    assert again.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["handover_reused"]


@pytest.mark.parametrize("roles", [[LEARNER], [TEACHING_ASSISTANT]])
def test_only_instructors_may_attach_exams(world: World, lms: Lms, linked_course: Any, roles: list[str]) -> None:
    before = made_from_launches()
    response = lms.deep_linking(**{CLAIM + "roles": roles})
    assert response.status_code == 403
    assert made_from_launches() == before
    assert [event.detail["reason"] for event in refusals()] == ["not_instructor"]


def test_a_platform_that_accepts_no_lti_link_is_told_so(world: World, lms: Lms, linked_course: Any) -> None:
    settings = {"deep_link_return_url": f"{ISSUER}/return", "accept_types": ["file"]}
    response = lms.deep_linking(**{DL_CLAIM + "deep_linking_settings": settings})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["link_not_accepted"]


@pytest.mark.parametrize("role", [role for role in ROLES if role != "anonymous"])
def test_the_choice_page_answers_each_role_as_the_matrix_says(world: World, platform: Any, role: str) -> None:
    """A choice page made out to each of the cast for world.course: only its instructors (and admins, who
    may set up exams anywhere) get through; the choice is authorised by whom the page was made out to,
    since no session comes with it. (Anonymous visitors have no page made out to them.)"""
    pending = PendingChoice(
        platform=platform.pk,
        deployment_id=DEPLOYMENT,
        course=world.course.pk,
        user=world.users[role].pk,
        return_url=f"{ISSUER}/return",
    )
    events_before = AuditEvent.objects.count()
    response = Client().post("/lti/deep-link/", {"pending": pending.dumps(), "exam": str(world.exam.pk)})
    if role in {"instructor", "admin"}:
        assert response.status_code == 200
        assert AuditEvent.objects.filter(action="lti.deep_link", actor_id=world.users[role].pk).exists()
        return
    assert response.status_code == 403
    assert audit_added_since(events_before) == refusals_expected(role)


def test_a_choice_page_without_its_signature_is_refused_to_anyone() -> None:
    assert Client().post("/lti/deep-link/", {"pending": "", "exam": "1"}).status_code == 400


def test_proctoring_for_an_assessment_of_the_lms_is_attached_as_a_draft_exam_of_the_lms(
    world: World, lms: Lms, linked_course: Any
) -> None:
    from exams.models import Delivery, Exam
    from lti.proctoring import ATTEMPT_NUMBER, SESSION_DATA, START_ASSESSMENT_URL

    pending = form_field(_choice_page(lms), "pending")
    frame = Client()
    exams = Exam.objects.count()
    blank = frame.post("/lti/deep-link/", {"pending": pending, "lms_title": "  "})
    assert blank.status_code == 400
    assert 'aria-describedby="lms-title-error"' in blank.content.decode()
    assert "Choose one of the course's exams" not in blank.content.decode()
    assert frame.post("/lti/deep-link/", {"pending": pending, "lms_title": "x" * 201}).status_code == 400
    assert Exam.objects.count() == exams
    response = frame.post("/lti/deep-link/", {"pending": pending, "lms_title": "Quiz 3"})
    assert response.status_code == 200
    draft = Exam.objects.get(title="Quiz 3")
    assert (draft.delivery, draft.course, draft.published) == (Delivery.LMS, world.course, False)
    [item] = jwt.decode(form_field(response.content.decode(), "JWT"), options={"verify_signature": False})[
        DL_CLAIM + "content_items"
    ]
    assert item["custom"] == {"invigil_exam": str(draft.pk)}
    # The LMS's proctoring launch of the item binds it; the instructor finishes the draft in Invigil first.
    draft.published_at = draft.opens_at
    draft.alternative_arrangement, draft.alternative_contact = "On paper.", "Exams office"
    draft.save()
    student = Lms(lms.key, Client())
    launched = student.launch(
        sub="lms-student",
        **{
            CLAIM + "message_type": "LtiStartProctoring",
            CLAIM + "resource_link": {"id": "quiz-3-in-the-lms"},
            CLAIM + "custom": item["custom"],
            START_ASSESSMENT_URL: "https://lms.example.edu/start",
            SESSION_DATA: "s",
            ATTEMPT_NUMBER: 1,
        },
    )
    assert launched.status_code == 302, launched.content[:500]
    assert draft.sessions.get().attempt_number == 1


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_ORIGIN": "https://attacker.example"}, {"HTTP_SEC_FETCH_SITE": "cross-site"}, {"HTTP_ORIGIN": "null"}],
)
def test_a_choice_posted_from_another_sites_page_is_refused(
    world: World, lms: Lms, linked_course: Any, headers: dict[str, str]
) -> None:
    from exams.models import Exam

    pending = form_field(_choice_page(lms), "pending")
    exams = Exam.objects.count()
    response = Client().post("/lti/deep-link/", {"pending": pending, "lms_title": "Planted"}, **headers)
    assert response.status_code == 403
    assert [event.detail["reason"] for event in refusals()] == ["cross_site_post"]
    assert Exam.objects.count() == exams
    own = Client().post(
        "/lti/deep-link/", {"pending": pending, "exam": str(world.exam.pk)}, HTTP_ORIGIN="http://testserver"
    )
    assert own.status_code == 200


def test_a_return_address_that_is_not_a_web_address_is_refused(world: World, lms: Lms, linked_course: Any) -> None:
    settings = {"deep_link_return_url": "javascript:alert(document.domain)", "accept_types": ["ltiResourceLink"]}
    response = lms.deep_linking(**{DL_CLAIM + "deep_linking_settings": settings})
    assert response.status_code == 400
    assert [event.detail["reason"] for event in refusals()] == ["malformed_claim"]
