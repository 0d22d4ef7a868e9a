"""The exam-session state machine as data: which status may follow which, and who may move it.

After edx-proctoring's attempt statuses, kept as a table rather than a branching function. Review
outcomes can only be reached by a named person: an automated flag never moves a session there.
"""

from __future__ import annotations

from exams.models import SessionStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.CONSENTED, S.DECLINED, S.ABANDONED}),
    S.CONSENTED: frozenset({S.READY, S.DECLINED, S.ABANDONED}),
    S.DECLINED: frozenset(),
    # A student who passed the checks may still decline, e.g. a new policy version they are asked about.
    S.READY: frozenset({S.STARTED, S.DECLINED, S.ABANDONED}),
    S.STARTED: frozenset({S.SUBMITTED, S.TIMED_OUT, S.ABANDONED}),
    S.SUBMITTED: frozenset({S.ANALYSING}),
    S.TIMED_OUT: frozenset({S.ANALYSING}),
    S.ABANDONED: frozenset({S.ANALYSING}),
    S.ANALYSING: frozenset({S.READY_FOR_REVIEW, S.ANALYSIS_FAILED}),
    # A failed analysis can be retried, or reviewed by a person from the recordings alone.
    S.ANALYSIS_FAILED: frozenset({S.ANALYSING, S.READY_FOR_REVIEW}),
    S.READY_FOR_REVIEW: frozenset({S.CLEARED, S.SECOND_REVIEW}),
    # The second reviewer confirms the concern, or disagrees and sends it back for review (back under
    # appeal, when it came from one).
    S.SECOND_REVIEW: frozenset({S.CONCERN_CONFIRMED, S.READY_FOR_REVIEW, S.APPEALED}),
    S.CLEARED: frozenset({S.APPEALED}),
    S.CONCERN_CONFIRMED: frozenset({S.APPEALED}),
    S.APPEALED: frozenset({S.CLEARED, S.SECOND_REVIEW}),
}

#: Outcomes of review. They never go back, except through an appeal.
COMPLETED: frozenset[str] = frozenset({S.CLEARED, S.CONCERN_CONFIRMED})

#: Statuses the attempt itself is over in: the recording is final.
ATTEMPT_ENDED: frozenset[str] = frozenset({S.SUBMITTED, S.TIMED_OUT, S.ABANDONED})

#: Statuses of a session whose student never started the attempt (and, declined, never will).
NOT_BEGUN: frozenset[str] = frozenset({S.CREATED, S.CONSENTED, S.DECLINED, S.READY})

#: The student started: from here on, how the exam is proctored and marked must stay as it was.
BEGUN: frozenset[str] = frozenset(S.values) - NOT_BEGUN

#: Only a signed-in person may move a session into these: no automated sanction, no automated appeal.
HUMAN_ONLY: frozenset[str] = frozenset({S.CLEARED, S.SECOND_REVIEW, S.CONCERN_CONFIRMED, S.APPEALED})


class TransitionError(Exception):
    """A status change the state machine does not allow; the message says why, in plain words."""


def label(status: str) -> str:
    return str(S(status).label)


def check_transition(current: str, target: str, *, by_person: bool) -> None:
    """Raise TransitionError unless ``current`` may become ``target`` (by a person, or the system)."""
    if target not in S.values:
        raise TransitionError(f"{target!r} is not an exam-session status.")
    if current == target:
        raise TransitionError(f"The session is already {label(current).lower()}.")
    if target not in TRANSITIONS[current]:
        if current in COMPLETED:
            raise TransitionError(
                f"The session's outcome ({label(current).lower()}) is final; only an appeal can reopen it."
            )
        raise TransitionError(f"An exam session cannot go from {label(current).lower()} to {label(target).lower()}.")
    if target in HUMAN_ONLY and not by_person:
        raise TransitionError(f"Only a person can move a session to {label(target).lower()}; the system never does.")
