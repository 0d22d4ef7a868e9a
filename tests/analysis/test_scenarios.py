"""The pipeline against recordings with known ground truth (see tests/scenarios.py): every scenario's
events are found within a few seconds of the truth, and the clean recordings raise nothing."""

from __future__ import annotations

import pytest

from analysis.models import Flag
from analysis.services import analysis_run
from exams.models import SessionStatus
from tests import scenarios
from tests.analysis.conftest import enrol, record_attempt
from tests.conftest import World

#: How far a flag's start and end may lie from the truth, in seconds (keyframes come once a second).
TOLERANCE = 3.0


@pytest.mark.parametrize("name", [s.name for s in scenarios.SCENARIOS])
def test_the_pipeline_finds_each_scenarios_events_near_the_truth_and_nothing_else(world: World, name: str) -> None:
    item = scenarios.scenario(name)
    enrol(world.users["student"], item.enrol_photo)
    attempt = record_attempt(world, webm=scenarios.recording(item), seconds=item.seconds)

    result = analysis_run(session_id=attempt.session.pk)

    assert result["outcome"] == "ready for review"
    found = [(f.kind, f.start_seconds, f.end_seconds) for f in Flag.objects.filter(session=attempt.session)]
    unmatched = list(found)
    for truth in item.truth:
        match = next(
            (
                flag
                for flag in unmatched
                if flag[0] == truth.kind
                and abs(flag[1] - truth.start) <= TOLERANCE
                and abs(flag[2] - truth.end) <= TOLERANCE
            ),
            None,
        )
        assert match is not None, f"{truth} not found among {found}"
        unmatched.remove(match)
    assert unmatched == [], f"flags with no event behind them: {unmatched}"
    attempt.session.refresh_from_db()
    assert attempt.session.status == SessionStatus.READY_FOR_REVIEW
