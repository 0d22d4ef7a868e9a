"""Merging evidence into flags, thresholds by sensitivity, exemptions, reasons and the score: pure code."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analysis import browser, rules
from analysis.rules import Evidence, Exemptions, Kind
from analysis.speech import SpeechWindow, speech_evidence
from analysis.vision import FaceSample, face_evidence
from analysis.voicemodel import ModelWindow, model_evidence

STANDARD = rules.THRESHOLDS["standard"]


def piece(kind: Kind, start: float, end: float, confidence: float = 0.8) -> Evidence:
    return Evidence(kind, start, end, confidence, start)


def test_neighbouring_evidence_becomes_one_time_ranged_flag() -> None:
    evidence = [piece(Kind.NO_FACE, t, t + 1) for t in (10, 11, 12, 14, 15)] + [piece(Kind.NO_FACE, 40, 41)]
    events = rules.events_from(evidence, STANDARD, Exemptions())  # no-face: 2 s apart join, 4 s or more flag
    assert [(e.start, e.end) for e in events] == [(10, 16)]  # the lone second at 40 is too short


def test_the_confidence_is_the_duration_weighted_mean_and_the_moment_the_surest_piece() -> None:
    events = rules.events_from(
        [Evidence(Kind.SPEECH, 0, 3, 0.6, 1), Evidence(Kind.SPEECH, 3, 4, 1.0, 3.5)], STANDARD, Exemptions()
    )
    assert events[0].confidence == 0.7
    assert events[0].moment == 3.5


def coverage(events: list[rules.Event]) -> set[tuple[Kind, int]]:
    """Flagged tenths of a second, per kind."""
    return {(e.kind, tenth) for e in events for tenth in range(round(e.start * 10), round(e.end * 10))}


samples = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=300),
        st.integers(min_value=0, max_value=3),
        st.one_of(st.none(), st.floats(min_value=0.2, max_value=0.95)),
    ),
    max_size=60,
)
speech_windows = st.lists(
    st.tuples(st.integers(min_value=0, max_value=600), st.floats(min_value=0, max_value=30)), max_size=80
)
#: The voice model's stretches: start (half-seconds), length (s) and mean probability.
model_windows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=600),
        st.floats(min_value=0.3, max_value=8),
        st.floats(min_value=0.35, max_value=1.0),
    ),
    max_size=40,
)


@given(samples, speech_windows, model_windows)
def test_a_stricter_sensitivity_never_adds_flags_flagged_time_or_score(
    raw: list[tuple[int, int, float | None]],
    windows: list[tuple[int, float]],
    heard: list[tuple[int, float, float]],
) -> None:
    face_samples = [
        FaceSample(float(t), float(t + 1), faces, True, 1.0 if faces else None, distance if faces else None, float(t))
        for t, (faces, distance) in sorted({t: (faces, distance) for t, faces, distance in raw}.items())
    ]
    speech = [
        SpeechWindow(t / 2, t / 2 + 0.5, 0.8, margin, -20.0, -40.0) for t, margin in sorted(dict(windows).items())
    ]
    evidence = face_evidence(face_samples) + speech_evidence(speech, floor_db=-60)
    evidence += model_evidence([ModelWindow(t / 2, t / 2 + length, p, p) for t, length, p in heard])
    results = []
    for name in ("low", "standard", "high"):
        events = rules.events_from(evidence, rules.THRESHOLDS[name], Exemptions())
        per_kind = {kind: sum(1 for e in events if e.kind == kind) for kind in Kind}
        results.append((coverage(events), per_kind, rules.score(events, recorded_seconds=3600).value))
    for (stricter, stricter_counts, stricter_score), (laxer, laxer_counts, laxer_score) in zip(
        results, results[1:], strict=False
    ):
        assert stricter <= laxer
        assert all(stricter_counts[kind] <= laxer_counts[kind] for kind in Kind)
        assert stricter_score <= laxer_score


def test_one_face_distance_dipping_under_the_threshold_does_not_split_a_flag_in_two() -> None:
    distances = [0.62, 0.62, 0.62, 0.58, 0.58, 0.58, 0.62, 0.62, 0.62]
    face_samples = [FaceSample(float(t), float(t + 1), 1, True, 1.0, d, float(t)) for t, d in enumerate(distances)]
    evidence = face_evidence(face_samples)
    standard = rules.events_from(evidence, STANDARD, Exemptions())
    high = rules.events_from(evidence, rules.THRESHOLDS["high"], Exemptions())
    assert [(e.start, e.end) for e in high] == [(0, 9)]
    assert [(e.start, e.end) for e in standard] == [(0, 9)]  # one flag, as at the laxer setting


def test_every_sensitivity_moves_every_threshold_the_same_way() -> None:
    low, standard, high = (rules.THRESHOLDS[n] for n in ("low", "standard", "high"))
    for kind in standard.min_seconds:
        assert low.min_seconds[kind] >= standard.min_seconds[kind] >= high.min_seconds[kind]
    assert low.match_distance >= standard.match_distance >= high.match_distance
    assert low.speech_margin_db >= standard.speech_margin_db >= high.speech_margin_db


def test_an_exemption_switches_its_detector_off_before_it_fires() -> None:
    evidence = [piece(k, 0, 30) for k in (Kind.NO_FACE, Kind.MULTIPLE_FACES, Kind.FACE_MISMATCH, Kind.SPEECH)]
    kinds = {e.kind for e in rules.events_from(evidence, STANDARD, Exemptions(speech_allowed=True))}
    assert kinds == {Kind.NO_FACE, Kind.MULTIPLE_FACES, Kind.FACE_MISMATCH}
    kinds = {e.kind for e in rules.events_from(evidence, STANDARD, Exemptions(face_covering=True))}
    assert kinds == {Kind.MULTIPLE_FACES, Kind.SPEECH}
    kinds = {e.kind for e in rules.events_from(evidence, STANDARD, Exemptions(no_video=True, no_audio=True))}
    assert kinds == set()


def test_technical_events_are_typed_technical_and_weigh_nothing_in_the_score() -> None:
    for kind in (Kind.CAMERA_LOST, Kind.RECORDING_GAP, Kind.SCREEN_SHARE_LOST):
        assert rules.RULES[kind].category == rules.Category.TECHNICAL
        assert rules.RULES[kind].weight == 0
    events = rules.events_from([piece(Kind.RECORDING_GAP, 0, 600)], STANDARD, Exemptions())
    assert rules.score(events, recorded_seconds=3600).value == 0


def test_the_score_is_weighted_flagged_minutes_per_hour_with_its_breakdown() -> None:
    events = [
        rules.Event(Kind.FACE_MISMATCH, 0, 120, 0.9, 0, {}),  # 2 minutes x 3
        rules.Event(Kind.NO_FACE, 200, 260, 0.8, 200, {}),  # 1 minute x 1
        rules.Event(Kind.PASTE, 300, 300, 1.0, 300, {}),  # counts as 5 seconds x 1
    ]
    score = rules.score(events, recorded_seconds=1800)
    assert score.recorded_hours == 0.5
    assert [(line.kind, line.minutes, line.contribution) for line in score.lines] == [
        (Kind.NO_FACE, 1.0, 2.0),
        (Kind.FACE_MISMATCH, 2.0, 12.0),
        (Kind.PASTE, 0.08, 0.17),
    ]
    assert score.value == 14.17
    assert score.as_dict()["lines"][1]["label"] == "Face did not match"


def test_a_reason_is_plain_language_with_the_time_into_the_exam() -> None:
    event = rules.Event(Kind.NO_FACE, 65, 3725, 0.8, 65, {})
    text = rules.reason(event)
    assert "from 1:05 to 1:02:05 into the exam (61 minutes)" in text
    assert rules.reason(rules.Event(Kind.PASTE, 30, 31, 1, 30, {})).endswith("at 0:30 into the exam.")


def test_long_events_are_more_severe_and_a_mismatch_is_always_high() -> None:
    assert rules.severity(rules.Event(Kind.NO_FACE, 0, 10, 1, 0, {})) == rules.Severity.LOW
    assert rules.severity(rules.Event(Kind.NO_FACE, 0, 90, 1, 0, {})) == rules.Severity.MEDIUM
    assert rules.severity(rules.Event(Kind.FACE_MISMATCH, 0, 3, 1, 0, {})) == rules.Severity.HIGH


def test_left_and_back_signals_become_ranges_and_an_unclosed_one_runs_to_the_end() -> None:
    signals = [
        browser.Signal("tab_hidden", 10),
        browser.Signal("tab_hidden", 12),  # repeated: the first one counts
        browser.Signal("tab_visible", 20),
        browser.Signal("fullscreen_exit", 50),
        browser.Signal("copy", 30),
        browser.Signal("camera_ended", 40),
        browser.Signal("window_focus", 5),  # a "back" with no "left": nothing
    ]
    found = browser.signal_evidence(signals, end=100, part_starts={"webcam": [0, 45]})
    assert sorted((e.kind, e.start, e.end) for e in found) == [
        (Kind.CAMERA_LOST, 40, 45),  # until the camera's next part began
        (Kind.COPY, 30, 31),
        (Kind.FULLSCREEN_EXIT, 50, 100),
        (Kind.TAB_HIDDEN, 10, 20),
    ]


def test_once_the_assessment_opens_in_its_own_window_leaving_the_exam_page_is_no_evidence() -> None:
    # Issue 16, item 3: an LMS that forbids framing shows its assessment in a window beside the exam page.
    signals = [
        browser.Signal("window_blur", 10),
        browser.Signal("window_focus", 15),
        browser.Signal("tab_hidden", 60),  # open when the window opens: it ends there
        browser.Signal("assessment_window", 70),
        browser.Signal("tab_visible", 80),
        browser.Signal("tab_hidden", 90),
        browser.Signal("window_blur", 95),
        browser.Signal("fullscreen_exit", 120),  # still evidence: it is not what the window explains
        browser.Signal("paste", 130),
    ]
    found = browser.signal_evidence(signals, end=300)
    assert sorted((e.kind, e.start, e.end) for e in found) == [
        (Kind.FULLSCREEN_EXIT, 120, 300),
        (Kind.PASTE, 130, 131),
        (Kind.TAB_HIDDEN, 60, 70),
        (Kind.WINDOW_BLUR, 10, 15),
    ]
    # Without the window the same signals are evidence.
    without = browser.signal_evidence([s for s in signals if s.kind != "assessment_window"], end=300)
    assert (Kind.WINDOW_BLUR, 95, 300) in {(e.kind, e.start, e.end) for e in without}


def test_nothing_is_flagged_for_a_break_and_evidence_across_one_keeps_its_parts_outside() -> None:
    # Issue 15, item 4: the student was away from 100 s to 400 s under their accommodation.
    breaks = Exemptions(breaks=((100.0, 400.0),))
    away = [Evidence(Kind.NO_FACE, 110, 390, 0.9, 200)]
    assert rules.events_from(away, STANDARD, Exemptions())
    assert rules.events_from(away, STANDARD, breaks) == []

    across = [Evidence(Kind.NO_FACE, 80, 430, 0.9, 420)]
    events = rules.events_from(across, STANDARD, breaks)
    assert [(e.start, e.end) for e in events] == [(80, 100), (400, 430)]
    # The picture of each part is taken within it.
    assert all(e.moment is not None and e.start <= e.moment <= e.end for e in events)
    assert "1 break (5 min in all): nothing flagged during them" in breaks.reasons()


@given(
    st.floats(0, 1000),
    st.floats(0.1, 300),
    st.lists(st.tuples(st.floats(0, 1000), st.floats(0.1, 200)), max_size=4),
)
def test_the_parts_outside_breaks_never_overlap_a_break_and_lose_no_other_time(
    start: float, length: float, spans: list[tuple[float, float]]
) -> None:
    breaks = tuple((low, low + size) for low, size in spans)
    piece = Evidence(Kind.SPEECH, start, start + length, 0.5, start)
    parts = Exemptions(breaks=breaks).outside_breaks(piece)
    for part in parts:
        assert all(part.end <= low or part.start >= high for low, high in breaks)
        assert piece.start <= part.start < part.end <= piece.end
    # Every instant of the piece outside every break is in some part (checked on a grid).
    for i in range(50):
        t = start + length * (i + 0.5) / 50
        if not any(low <= t < high for low, high in breaks):
            assert any(part.start <= t < part.end for part in parts)


def test_a_check_the_exam_switches_off_raises_nothing_and_says_why() -> None:
    evidence = [piece(k, 0, 30) for k in (Kind.NO_FACE, Kind.TAB_HIDDEN, Kind.WINDOW_BLUR, Kind.COPY, Kind.CAMERA_LOST)]
    notes = {"no_face": "no face in view: check off, paper allowed", "leaving_page": "leaving the page: check off"}
    exemptions = Exemptions(checks_off=notes)
    assert {e.kind for e in rules.events_from(evidence, STANDARD, exemptions)} == {Kind.COPY, Kind.CAMERA_LOST}
    assert exemptions.reasons() == ["leaving the page: check off", "no face in view: check off, paper allowed"]


def test_no_check_an_exam_can_switch_off_hides_equipment_or_network_trouble() -> None:
    switchable = {kind for kinds in rules.CHECK_KINDS.values() for kind in kinds}
    assert {rules.RULES[kind].category for kind in switchable} == {rules.Category.CONCERN}
