"""Every review endpoint against every role, the outsider and the anonymous visitor included. Allowed
roles get the endpoint's answer, other signed-in users 403, anonymous visitors the sign-in page; a
refused request changes nothing and is not logged as an access."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from analysis.models import Flag
from exams.models import SessionStatus
from identity.models import IdentityCheck
from identity.services import identity_request_manual_check, identity_store_id_photo
from proctor.models import AuditEvent
from recordings.services import recording_start
from review.models import FlagDecision, SessionDecision
from tests.conftest import ROLES, World, audit_added_since, client_as, refusals_expected, state_purpose
from tests.identity.test_identity_api import jpeg
from tests.review.test_dashboard import analysed

STAFF = {"instructor", "reviewer", "admin"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World], str]
    allowed: frozenset[str]
    #: The status an allowed role gets (the recording has no playback copy and the flag no picture,
    #: so those two answer 404 after letting the role in).
    answer: int
    data: dict[str, str] | None = None
    #: Reads of the student's recordings need a stated purpose first (review.access); allowed roles
    #: state one before the request, and the purpose tests show what happens without.
    needs_purpose: bool = False


def _flag(world: World) -> Flag:
    return Flag.objects.get(session=world.session)


def _check(world: World) -> IdentityCheck:
    return IdentityCheck.objects.get(reference=str(world.session.pk))


ENDPOINTS: dict[str, Endpoint] = {
    "dashboard": Endpoint("get", lambda w: reverse("review_dashboard", args=[w.course.pk]), frozenset(STAFF), 200),
    "export": Endpoint("get", lambda w: reverse("review_export", args=[w.course.pk]), frozenset(STAFF), 200),
    "session page": Endpoint(
        "get", lambda w: reverse("review_session", args=[w.session.pk]), frozenset(STAFF), 200, needs_purpose=True
    ),
    "purpose page": Endpoint(
        "get", lambda w: reverse("review_session_access", args=[w.session.pk]), frozenset(STAFF), 200
    ),
    "purpose": Endpoint(
        "post",
        lambda w: reverse("review_session_access", args=[w.session.pk]),
        frozenset(STAFF),
        302,
        {"kind": "case", "case": "AI-2026-0142"},
    ),
    "flag picture": Endpoint(
        "get", lambda w: reverse("flag_thumbnail", args=[_flag(w).pk]), frozenset(STAFF), 404, needs_purpose=True
    ),
    "playback": Endpoint(
        "get",
        lambda w: reverse("recording_playback", args=[w.session.recordings.get().pk]),
        frozenset(STAFF),
        404,
        needs_purpose=True,
    ),
    "flag decision": Endpoint(
        "post",
        lambda w: reverse("flag_decision", args=[_flag(w).pk]),
        frozenset(STAFF),
        302,
        {"verdict": "dismissed", "note": "The student looked down at their notes sheet, which is allowed."},
    ),
    "session decision": Endpoint(
        "post",
        lambda w: reverse("review_session_decision", args=[w.session.pk]),
        frozenset(STAFF),
        302,
        {"outcome": "referred", "note": "Someone else speaks at 2:10."},
    ),
    "reanalyse": Endpoint("post", lambda w: reverse("review_reanalyse", args=[w.session.pk]), frozenset(STAFF), 302),
    # The queue itself is open to staff of any course; each check in it only to the session's staff.
    "identity checks": Endpoint(
        "get", lambda w: reverse("review_identity_checks"), frozenset(STAFF | {"other_instructor"}), 200
    ),
    # From a course page: that course's checks, for its staff only.
    "identity checks of a course": Endpoint(
        "get", lambda w: f"{reverse('review_identity_checks')}?course={w.course.pk}", frozenset(STAFF), 200
    ),
    "photo ID": Endpoint(
        "get", lambda w: reverse("review_identity_check_photo", args=[_check(w).pk]), frozenset(STAFF), 200
    ),
    "identity decision": Endpoint(
        "post",
        lambda w: reverse("review_identity_check_decide", args=[_check(w).pk]),
        frozenset(STAFF),
        302,
        {"decision": "confirm", "reason": "The card's name and photo match the class list."},
    ),
    "appeal page": Endpoint(
        "get", lambda w: reverse("review_appeal", args=[w.session.pk]), frozenset({"student"}), 200
    ),
    "appeal": Endpoint(
        "post",
        lambda w: reverse("review_appeal", args=[w.session.pk]),
        frozenset({"student"}),
        302,
        {"grounds": "My brother came in without my invitation."},
    ),
}


@pytest.fixture
def reviewable(world: World) -> World:
    analysed(world.session, score=12.0, flags={"speech": 1})
    recording_start(session=world.session, kind="webcam", mime_type="video/webm", actor=None)
    identity_store_id_photo(user=world.users["student"], photo=jpeg("obama2.jpg"))
    identity_request_manual_check(user=world.users["student"], reference=str(world.session.pk))
    return world


def _prepare(world: World, name: str) -> None:
    if name == "session decision":  # its flag needs a verdict first
        FlagDecision.objects.create(flag=_flag(world), verdict="confirmed", note="seen", reviewer_name="Someone")
    if name == "reanalyse":  # only a failed analysis runs again
        world.session.__class__.objects.filter(pk=world.session.pk).update(status=SessionStatus.ANALYSIS_FAILED)
    if name == "appeal":  # only a confirmed concern is appealed
        world.session.__class__.objects.filter(pk=world.session.pk).update(status=SessionStatus.CONCERN_CONFIRMED)


def test_the_matrix_covers_every_review_url(reviewable: World) -> None:
    from django.urls import resolve

    from review.urls import urlpatterns

    covered = {resolve(endpoint.url(reviewable).split("?")[0]).url_name for endpoint in ENDPOINTS.values()}
    assert covered == {pattern.name for pattern in urlpatterns}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_review_endpoint_answers_each_role_as_the_matrix_says(reviewable: World, role: str, name: str) -> None:
    world = reviewable
    endpoint = ENDPOINTS[name]
    _prepare(world, name)
    status_before = world.session.__class__.objects.get(pk=world.session.pk).status
    client = client_as(world, role)
    if endpoint.needs_purpose and role in endpoint.allowed:
        state_purpose(client, world.session)
    events_before = AuditEvent.objects.count()
    response = getattr(client, endpoint.method)(endpoint.url(world), endpoint.data or {})
    if role in endpoint.allowed:
        assert response.status_code == endpoint.answer, response.content[:300]
        if endpoint.method == "post":  # the write happened, and was logged as this person's
            assert AuditEvent.objects.filter(actor_id=world.users[role].pk).exclude(action="auth.login").exists()
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert world.session.__class__.objects.get(pk=world.session.pk).status == status_before
    # The refusal itself is logged, and nothing else.
    assert audit_added_since(events_before) == refusals_expected(role)
    assert not SessionDecision.objects.exists()
    assert not FlagDecision.objects.exclude(reviewer_name="Someone").exists()
    assert _check(world).decision == "pending"


def test_staff_of_another_course_are_outsiders_here(reviewable: World) -> None:
    client = client_as(reviewable, "other_instructor")
    for name, endpoint in ENDPOINTS.items():
        if "other_instructor" in endpoint.allowed:
            continue
        response = getattr(client, endpoint.method)(endpoint.url(reviewable), endpoint.data or {})
        assert response.status_code == 403, name
