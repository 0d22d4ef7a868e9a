"""Browser signals and recording gaps as evidence: pairs of "left"/"back" signals become time ranges.

Pure code: (kind, seconds) pairs in, evidence out, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analysis.rules import Evidence, Kind

#: Signal that opens a range -> (the flag kind, the signal that closes it).
RANGES = {
    "tab_hidden": (Kind.TAB_HIDDEN, "tab_visible"),
    "window_blur": (Kind.WINDOW_BLUR, "window_focus"),
    "fullscreen_exit": (Kind.FULLSCREEN_EXIT, "fullscreen_enter"),
}
#: Signals that are a moment, not a range.
MOMENTS = {"copy": Kind.COPY, "paste": Kind.PASTE, "extra_display": Kind.EXTRA_DISPLAY}
#: Signals that end a stream: the range lasts until the stream's next part starts, or the end.
STREAM_ENDS = {"screen_share_ended": (Kind.SCREEN_SHARE_LOST, "screen"), "camera_ended": (Kind.CAMERA_LOST, "webcam")}
#: Once the LMS's assessment is open in a window of its own, the student works there: the exam page's tab
#: being hidden or its window unfocused is the expected state, not evidence of anything.
EXPECTED_IN_ASSESSMENT_WINDOW = frozenset({"tab_hidden", "window_blur"})
ASSESSMENT_WINDOW = "assessment_window"
#: A moment counts as this long, so it is a range a reviewer can jump to.
MOMENT_SECONDS = 1.0


@dataclass(frozen=True)
class Signal:
    kind: str
    at: float


def signal_evidence(
    signals: Iterable[Signal], *, end: float, part_starts: dict[str, list[float]] | None = None
) -> list[Evidence]:
    """Evidence from the session's browser signals, in session seconds; ``end`` closes open ranges.

    From an ``assessment_window`` signal on (the LMS's assessment opened beside the exam page), the page's
    tab hidden and window unfocused are expected and give no evidence; a range open then closes there."""
    part_starts = part_starts or {}
    open_since: dict[str, float] = {}
    found: list[Evidence] = []
    closers = {closer: opener for opener, (_, closer) in RANGES.items()}
    in_window = False
    for signal in sorted(signals, key=lambda s: s.at):
        at = min(max(signal.at, 0.0), end)
        if signal.kind == ASSESSMENT_WINDOW:
            in_window = True
            for opener in EXPECTED_IN_ASSESSMENT_WINDOW & open_since.keys():
                found.append(_range(RANGES[opener][0], open_since.pop(opener), at, ASSESSMENT_WINDOW))
        elif in_window and (
            signal.kind in EXPECTED_IN_ASSESSMENT_WINDOW or closers.get(signal.kind) in EXPECTED_IN_ASSESSMENT_WINDOW
        ):
            continue
        elif signal.kind in RANGES:
            open_since.setdefault(signal.kind, at)  # a repeated "left" extends nothing: the first one counts
        elif signal.kind in closers:
            opener = closers[signal.kind]
            if opener in open_since:
                found.append(_range(RANGES[opener][0], open_since.pop(opener), at, signal.kind))
        elif signal.kind in MOMENTS:
            found.append(Evidence(MOMENTS[signal.kind], at, min(at + MOMENT_SECONDS, max(end, at)), 1.0, at))
        elif signal.kind in STREAM_ENDS:
            kind, stream = STREAM_ENDS[signal.kind]
            later = [start for start in part_starts.get(stream, []) if start > at]
            found.append(_range(kind, at, min(later, default=end), signal.kind))
    for opener, since in open_since.items():
        found.append(_range(RANGES[opener][0], since, end, "end of the attempt"))
    return found


def _range(kind: Kind, start: float, end: float, closed_by: str) -> Evidence:
    return Evidence(kind, start, max(end, start), 1.0, start, {"closed_by": closed_by})


def gap_evidence(gaps: Iterable[tuple[float, float]]) -> list[Evidence]:
    return [Evidence(Kind.RECORDING_GAP, start, max(end, start), 1.0, start) for start, end in gaps]


#: Stretches without any recording shorter than this are the recorder starting or stopping.
UNCOVERED_MIN_SECONDS = 10.0
NOT_RECORDED = {"webcam": Kind.WEBCAM_NOT_RECORDED, "screen": Kind.SCREEN_NOT_RECORDED}


def uncovered_evidence(stream: str, spans: Iterable[tuple[float, float]], *, end: float) -> list[Evidence]:
    """The stretches of [0, end] that no part of a required stream covers, as technical evidence."""
    found = []
    cursor = 0.0
    for start, stop in sorted(spans):
        if start - cursor >= UNCOVERED_MIN_SECONDS:
            found.append(Evidence(NOT_RECORDED[stream], cursor, start, 1.0, cursor, {"stream": stream}))
        cursor = max(cursor, stop)
    if end - cursor >= UNCOVERED_MIN_SECONDS:
        found.append(Evidence(NOT_RECORDED[stream], cursor, end, 1.0, cursor, {"stream": stream}))
    return found
