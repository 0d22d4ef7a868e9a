"""A confirmed concern the student can still appeal keeps its recordings until the appeal window closes,
even past the recording retention; a cleared session of the same exam does not. After the window, the
appeal is refused and the purge takes the recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import time_machine

from exams.models import ExamSession
from exams.models import SessionStatus as S
from exams.services import session_transition
from privacy.selectors import my_data
from privacy.services import APPEAL, purge_due, purge_plan
from recordings.models import Recording
from recordings.services import recording_append_chunk, recording_finalise, recording_start
from review.services import DecisionError, session_appeal
from tests.conftest import World
from tests.media import make_webm, split
from tests.privacy.conftest import DAY, closed

pytestmark = pytest.mark.django_db


def _recorded(session: ExamSession) -> None:
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    for seq, chunk in enumerate(split(make_webm(seconds=2), [15_000])):
        recording_append_chunk(recording=recording, seq=seq, data=chunk)
    session_transition(session_id=session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    recording_finalise(recording_id=recording.pk, actor=None)


def _reviewed(session: ExamSession, outcome: str, world: World) -> None:
    for status in (S.ANALYSING, S.READY_FOR_REVIEW):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    if outcome == S.CONCERN_CONFIRMED:  # referred by one person, confirmed by another
        session_transition(
            session_id=session.pk, to_status=S.SECOND_REVIEW, actor=world.users["reviewer"], reason="referred"
        )
    session_transition(session_id=session.pk, to_status=outcome, actor=world.users["instructor"], reason="decided")


@pytest.fixture
def side_by_side(recorded: World) -> tuple[World, datetime]:
    """The student's session (recorded, concern confirmed 170 days after the exam) and another
    student's session of the same exam (recorded, cleared the same day)."""
    world = recorded
    other = ExamSession.objects.get(pk=world.other_session.pk)  # the same exam, another student
    _recorded(other)
    confirmed_at = closed(world) + 170 * DAY
    with time_machine.travel(confirmed_at, tick=False):
        _reviewed(ExamSession.objects.get(pk=world.session.pk), S.CONCERN_CONFIRMED, world)
        _reviewed(other, S.CLEARED, world)
    return world, confirmed_at


def _recordings_of(session_id: Any) -> int:
    return Recording.objects.filter(session_id=session_id, data_key__wrapped__isnull=False).count()


def test_the_appealable_session_keeps_its_recordings_and_the_cleared_one_does_not(
    side_by_side: tuple[World, datetime],
) -> None:
    world, confirmed_at = side_by_side
    other = ExamSession.objects.get(student=world.users["other_student"], exam=world.exam)
    with time_machine.travel(closed(world) + 181 * DAY, tick=False):
        plan = {item.target.pk: item.kept_by for item in purge_plan() if item.kind == "recordings"}
        assert plan == {world.session.pk: APPEAL, other.pk: ""}
        purge_due()
        assert _recordings_of(other.pk) == 0
        assert _recordings_of(world.session.pk) == 1
        # The student is told why their recordings are still there.
        (mine,) = my_data(world.users["student"]).sessions
        assert mine.kept_by == APPEAL

    # 30 days after the concern was confirmed, the window has closed: the recordings go.
    with time_machine.travel(confirmed_at + 31 * DAY, tick=False):
        purge_due()
        assert _recordings_of(world.session.pk) == 0


def test_an_appeal_within_the_window_keeps_the_recordings_through_the_appeal(
    side_by_side: tuple[World, datetime],
) -> None:
    world, confirmed_at = side_by_side
    with time_machine.travel(confirmed_at + 29 * DAY, tick=False):
        session_appeal(session_id=world.session.pk, grounds="My brother walked in.", actor=world.users["student"])
    with time_machine.travel(confirmed_at + 60 * DAY, tick=False):
        purge_due()
        assert _recordings_of(world.session.pk) == 1  # under appeal: a review in progress


def test_an_appeal_after_the_window_is_refused_and_changes_nothing(side_by_side: tuple[World, datetime]) -> None:
    world, confirmed_at = side_by_side
    with (
        time_machine.travel(confirmed_at + 31 * DAY, tick=False),
        pytest.raises(DecisionError, match="time to appeal ended"),
    ):
        session_appeal(session_id=world.session.pk, grounds="Too late.", actor=world.users["student"])
    assert ExamSession.objects.get(pk=world.session.pk).status == S.CONCERN_CONFIRMED


def test_the_window_is_the_institutions(side_by_side: tuple[World, datetime]) -> None:
    world, confirmed_at = side_by_side
    institution = world.course.institution
    institution.appeal_window_days = 60
    institution.save()
    with time_machine.travel(confirmed_at + 45 * DAY, tick=False):
        purge_due()
        assert _recordings_of(world.session.pk) == 1
        session_appeal(session_id=world.session.pk, grounds="Within 60 days.", actor=world.users["student"])
