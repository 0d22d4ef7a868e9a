"""The webcam is analysed a stretch at a time while the exam is under way: the stretches are kept, the
final analysis only does what is left, the flags are the same as analysing everything at the end, and
a stretch lost with its worker is done by the next call or the final analysis."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
import time_machine

from analysis.models import AnalysisSegment, Flag
from analysis.services import AHEAD_EVERY_CHUNKS, analysis_ahead, analysis_run
from exams.models import ExamSession, SessionStatus
from exams.services import session_transition
from recordings.models import Recording
from recordings.services import (
    ANALYSIS_AHEAD_TASK,
    chunk_asks_analysis_ahead,
    recording_append_chunk,
    recording_finalise,
    recording_start,
)
from review.demo.media import CHUNK_SECONDS, chunked
from tests import scenarios
from tests.conftest import World

S = SessionStatus
#: The student is away 50-70 s and 120-127 s (see tests/scenarios.py).
NOBODY = scenarios.scenario("nobody")


def take_exam(world: World, *, ahead_every: int | None, stop_after: int | None = None, item: Any = NOBODY) -> Any:
    """The student takes the exam: chunks arrive one by one, with the analysis ahead run every
    ``ahead_every`` chunks (as the queued task would), then submit and finalise."""
    session = world.session
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="test")
    session.refresh_from_db()
    began = session.started_at
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    pieces = chunked(scenarios.recording(item), item.seconds)
    for seq, piece in enumerate(pieces):
        if stop_after is not None and seq >= stop_after:
            break
        at = began + timedelta(seconds=seq * CHUNK_SECONDS)
        recording_append_chunk(recording=recording, seq=seq, data=piece, client_time=at)
        if ahead_every and seq % ahead_every == ahead_every - 1:
            with time_machine.travel(at, tick=False):
                analysis_ahead(session_id=session.pk)
    return session, recording, began


def finish(session: Any, began: Any) -> dict[str, Any]:
    with time_machine.travel(began + timedelta(seconds=NOBODY.seconds), tick=False):
        session_transition(session_id=session.pk, to_status=S.SUBMITTED, actor=None, reason="test")
    for recording in Recording.objects.filter(session=session):
        recording_finalise(recording_id=recording.pk, actor=None)
    return analysis_run(session_id=session.pk)


def flags_of(session: Any) -> list[tuple[str, float, float]]:
    return list(Flag.objects.filter(session=session).values_list("kind", "start_seconds", "end_seconds"))


def assert_near(flags: list[tuple[str, float, float]], expected: list[tuple[str, float, float]], within: float) -> None:
    """The flags are of the expected kinds, in order, each starting and ending within ``within`` s."""
    assert [kind for kind, _, _ in flags] == [kind for kind, _, _ in expected]
    for (_, start, end), (_, true_start, true_end) in zip(flags, expected, strict=True):
        assert abs(start - true_start) <= within
        assert abs(end - true_end) <= within


#: The flags the "nobody" scenario should raise.
AWAY = [("no_face", 50.0, 70.0), ("no_face", 120.0, 127.0)]


def test_stretches_analysed_during_the_exam_leave_only_the_last_for_submit(enrolled: World) -> None:
    session, recording, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS)
    during = list(AnalysisSegment.objects.filter(recording=recording).order_by("from_seconds"))
    assert len(during) == 3  # after chunks 20, 40 and 60, each up to a little before what had arrived
    assert during[0].from_seconds == 0
    assert during[1].from_seconds == during[0].to_seconds
    assert not any(stretch.final for stretch in during)

    result = finish(session, began)

    assert result["outcome"] == "ready for review"
    stretches = list(AnalysisSegment.objects.filter(recording=recording).order_by("from_seconds"))
    assert len(stretches) == 4  # at submit, only the last few seconds were left
    assert stretches[-1].final
    assert stretches[-1].to_seconds - stretches[-1].from_seconds < 10
    assert stretches[-1].from_seconds == during[-1].to_seconds
    assert_near(flags_of(session), AWAY, 1.5)


def analyse_again(session: Any) -> None:
    """Throw the run and its flags away and analyse the session once more (as a fresh deployment would)."""
    Flag.objects.filter(session=session).delete()
    session.analysis_runs.all().delete()
    ExamSession.objects.filter(pk=session.pk).update(status=S.ANALYSING)
    analysis_run(session_id=session.pk)


def test_the_flags_are_the_same_whether_analysed_ahead_or_all_at_the_end(enrolled: World) -> None:
    session, recording, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS)
    finish(session, began)
    ahead = flags_of(session)

    AnalysisSegment.objects.filter(recording=recording).delete()
    analyse_again(session)  # one stretch, from the start to the end

    at_the_end = flags_of(session)
    assert AnalysisSegment.objects.filter(recording=recording).count() == 1
    assert_near(ahead, at_the_end, 1.0)


def test_keyframes_ten_seconds_apart_give_the_same_flags_a_stretch_at_a_time(enrolled: World) -> None:
    # Each stretch reads from a little before where it starts, so a keyframe comes before its first sample.
    sparse = replace(NOBODY, name="nobody_key10s", keyframe_seconds=10.0)
    session, recording, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS, item=sparse)
    finish(session, began)

    assert AnalysisSegment.objects.filter(recording=recording).count() == 4
    assert_near(flags_of(session), AWAY, 1.5)


def test_speech_across_the_end_of_a_stretch_is_one_flag(enrolled: World) -> None:
    # Stretches end at 55 and 115 s here; someone speaks 40-52 s and 110-118 s.
    session, _, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS, item=scenarios.scenario("speech"))
    finish(session, began)
    assert_near(flags_of(session), [("speech", 40.0, 52.0), ("speech", 110.0, 118.0)], 1.5)


def test_a_stretch_lost_with_its_worker_is_analysed_by_the_final_analysis(enrolled: World) -> None:
    # The worker died before storing anything: no stretch for the first 40 chunks.
    session, recording, began = take_exam(enrolled, ahead_every=None)
    assert not AnalysisSegment.objects.filter(recording=recording).exists()

    finish(session, began)

    stretches = list(AnalysisSegment.objects.filter(recording=recording))
    assert len(stretches) == 1
    assert stretches[0].from_seconds == 0
    assert stretches[0].final
    assert [kind for kind, _, _ in flags_of(session)] == ["no_face", "no_face"]


def test_a_retried_analysis_reuses_the_stretches_instead_of_decoding_again(enrolled: World) -> None:
    session, _, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS)
    finish(session, began)
    first = flags_of(session)
    made = set(AnalysisSegment.objects.values_list("pk", flat=True))

    analyse_again(session)

    assert set(AnalysisSegment.objects.values_list("pk", flat=True)) == made
    assert flags_of(session) == first


def test_nothing_is_analysed_ahead_until_enough_new_chunks_have_come(enrolled: World) -> None:
    session, recording, _ = take_exam(enrolled, ahead_every=None, stop_after=AHEAD_EVERY_CHUNKS - 5)
    assert analysis_ahead(session_id=session.pk) == 1  # the first stretch: whatever has arrived
    assert analysis_ahead(session_id=session.pk) == 0  # nothing new since
    assert AnalysisSegment.objects.filter(recording=recording).count() == 1


def test_a_face_covering_accommodation_changes_which_stretches_count(enrolled: World) -> None:
    from tests.factories import AccommodationFactory

    session, recording, began = take_exam(enrolled, ahead_every=AHEAD_EVERY_CHUNKS)
    # Granted during the exam: the stretches analysed with face verification are not reused.
    AccommodationFactory(exam=enrolled.exam, student=enrolled.users["student"], face_covering=True)
    finish(session, began)
    used = AnalysisSegment.objects.filter(recording=recording).exclude(detectors__contains="template")
    assert used.filter(final=True, from_seconds=0).exists()
    assert not Flag.objects.filter(session=session, kind__in=["no_face", "face_mismatch"]).exists()


def test_every_twentieth_webcam_chunk_asks_for_the_analysis_ahead(
    enrolled: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.INVIGIL_ANALYSE_AHEAD_CHUNKS = 20
    sent: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("recordings.services.current_app.send_task", lambda name, args: sent.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        session, recording, _ = take_exam(enrolled, ahead_every=None, stop_after=3 * AHEAD_EVERY_CHUNKS)
    asked_after = [seq for seq in range(3 * AHEAD_EVERY_CHUNKS) if chunk_asks_analysis_ahead(recording, seq)]
    # The first ask comes after 20 to 39 chunks, by the session's place in the cycle: two or three in sixty.
    assert len(asked_after) in (2, 3)
    assert all(later - earlier == AHEAD_EVERY_CHUNKS for earlier, later in pairwise(asked_after))
    assert sent == [(ANALYSIS_AHEAD_TASK, [str(session.pk)])] * len(asked_after)


@pytest.mark.parametrize("every", [20, 7])
def test_each_session_asks_every_so_many_chunks_at_a_place_of_its_own(settings: Any, every: int) -> None:
    # A class that starts together must not ask all at once: each session's first ask comes after one to
    # two cycles' webcam chunks, at a place in the cycle of its own, and then every cycle.
    settings.INVIGIL_ANALYSE_AHEAD_CHUNKS = every
    first_asks: Counter[int] = Counter()
    for _ in range(100 * every):
        session_id = uuid.uuid4()
        webcam = Recording(session_id=session_id, kind="webcam")
        asked = [seq for seq in range(5 * every) if chunk_asks_analysis_ahead(webcam, seq)]
        assert every - 1 <= asked[0] < 2 * every - 1
        assert all(later - earlier == every for earlier, later in pairwise(asked))
        assert len(asked) in (4, 5)
        assert not any(chunk_asks_analysis_ahead(Recording(session_id=session_id, kind="screen"), s) for s in asked)
        first_asks[asked[0]] += 1
    assert set(first_asks) == set(range(every - 1, 2 * every - 1))
    assert max(first_asks.values()) < 3 * min(first_asks.values())  # about a hundred sessions at each place


def test_a_broker_that_cannot_be_reached_does_not_fail_the_chunk(
    enrolled: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.INVIGIL_ANALYSE_AHEAD_CHUNKS = 20

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("recordings.services.current_app.send_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        _, recording, _ = take_exam(enrolled, ahead_every=None, stop_after=AHEAD_EVERY_CHUNKS)
    assert recording.chunks.count() == AHEAD_EVERY_CHUNKS


def test_with_the_nudge_off_no_chunk_asks_and_all_is_analysed_at_the_end(
    enrolled: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.INVIGIL_ANALYSE_AHEAD_CHUNKS = 0
    sent: list[str] = []
    monkeypatch.setattr("recordings.services.current_app.send_task", lambda name, args: sent.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        take_exam(enrolled, ahead_every=None, stop_after=2 * AHEAD_EVERY_CHUNKS)
    assert sent == []


def test_evidence_across_the_end_of_a_stretch_is_kept_in_two_parts_that_meet() -> None:
    # A voice from 95 s to 108 s, the stretch ending at 100 s: this stretch keeps 95-100 (its moment
    # moved into it), the next keeps 100-108 of what it heard from its context on, and nothing is lost
    # or kept twice. A moment exactly at a stretch's start belongs to it.
    from analysis import rules
    from analysis.services import _overlaps, _within

    voice = rules.Evidence(rules.Kind.SPEECH, 95.0, 108.0, 0.9, 104.0, {}, strength=0.9, measure="speech_probability")
    heard_again = replace(voice, start=97.0)
    moment = rules.Evidence(rules.Kind.NO_FACE, 100.0, 100.0, 1.0)

    first = [_within(p, 0.0, 100.0) for p in (voice, moment) if _overlaps(p, 0.0, 100.0)]
    second = [_within(p, 100.0, 200.0) for p in (heard_again, moment) if _overlaps(p, 100.0, 200.0)]

    assert [(p.start, p.end, p.moment) for p in first] == [(95.0, 100.0, 100.0)]
    assert [(p.start, p.end, p.moment) for p in second] == [(100.0, 108.0, 104.0), (100.0, 100.0, None)]
    assert first[0].measure == second[0].measure == "speech_probability"
