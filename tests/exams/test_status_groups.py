"""Groups of session statuses are named once (exams/lifecycle.py): the pages, their badges and the
browser's scripts all read them from there."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from exams import lifecycle
from exams.models import ExamSession, SessionStatus
from exams.selectors import exams_of_course
from tests.conftest import World, client_as
from tests.factories import ExamSessionFactory

S = SessionStatus


def test_every_group_holds_only_statuses_and_is_offered_by_name() -> None:
    for name, group in lifecycle.GROUPS.items():
        assert group, name
        assert group <= set(S.values), name
        assert getattr(lifecycle, name) is group


def test_before_review_and_the_review_states_cover_every_status_once() -> None:
    parts = [
        lifecycle.NOT_READY_FOR_REVIEW,
        lifecycle.TO_REVIEW,
        {S.SECOND_REVIEW},
        {S.APPEALED},
        lifecycle.COMPLETED,
    ]
    assert sorted(status for part in parts for status in part) == sorted(S.values)


@pytest.mark.parametrize(
    ("status", "tone"),
    [
        (S.CLEARED, "success"),
        (S.CONCERN_CONFIRMED, "danger"),
        (S.ANALYSIS_FAILED, "danger"),
        (S.READY_FOR_REVIEW, "warning"),
        (S.SECOND_REVIEW, "warning"),
        (S.APPEALED, "warning"),
        (S.STARTED, "info"),
        (S.ANALYSING, "info"),
        (S.CREATED, "neutral"),
        (S.SUBMITTED, "neutral"),
    ],
)
def test_a_status_badge_takes_the_colour_of_its_group(status: str, tone: str) -> None:
    assert lifecycle.tone(status) == tone


def test_the_page_gives_the_browser_the_groups_as_the_server_names_them(world: World) -> None:
    ExamSession.objects.filter(pk=world.session.pk).update(status=S.CONCERN_CONFIRMED)
    response = client_as(world, "student").get(reverse("home"))
    html = response.content.decode()
    found = re.search(r'<script id="session-statuses" type="application/json">(.*?)</script>', html)
    assert found is not None
    rendered = json.loads(found.group(1))
    assert rendered["groups"]["ATTEMPT_ENDED"] == ["abandoned", "submitted", "timed_out"]
    assert rendered["groups"].keys() == lifecycle.GROUPS.keys()
    assert rendered["status"]["STARTED"] == "started"
    assert '<span class="badge badge--danger">Concern confirmed</span>' in html


def test_the_course_page_counts_every_session_a_person_has_yet_to_decide(world: World) -> None:
    for status in (S.ANALYSIS_FAILED, S.READY_FOR_REVIEW, S.SECOND_REVIEW, S.APPEALED, S.CLEARED, S.STARTED):
        ExamSessionFactory(exam=world.exam, status=status)
    counted = exams_of_course(world.course).get(pk=world.exam.pk)
    assert counted.to_review == 4
