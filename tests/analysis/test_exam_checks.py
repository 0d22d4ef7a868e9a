"""The analysis runs only the checks an exam runs: those its instructor switched off, and those its
allowed materials would set off, raise nothing, and the run says which and why."""

from __future__ import annotations

import pytest

from analysis import rules
from analysis.services import analysis_run_start
from exams.models import Check, ExamSession, SessionStatus
from tests.conftest import World

pytestmark = pytest.mark.django_db


def test_every_check_an_exam_offers_is_known_to_the_analysis() -> None:
    assert set(rules.CHECK_KINDS) == set(Check.values)


def test_a_run_leaves_out_the_checks_the_exam_switched_off_and_says_why(world: World) -> None:
    world.exam.checks_off = ["extra_display"]
    world.exam.allowed_materials = ["paper_notes", "other_applications"]
    world.exam.save()
    ExamSession.objects.filter(pk=world.session.pk).update(status=SessionStatus.SUBMITTED)
    run = analysis_run_start(session_id=world.session.pk)
    assert run is not None
    assert run.exemptions == [
        "copying and pasting: check off, other programs and websites (an open-web exam) allowed",
        "a second display: check off, switched off for this exam",
        "leaving the exam page (another tab or window, full screen left): check off, "
        "other programs and websites (an open-web exam) allowed",
        "no face in view: check off, notes and books on paper allowed",
    ]
