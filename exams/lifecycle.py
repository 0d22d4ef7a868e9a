"""The exam-session state machine as data: which status may follow which, and who may move it.

After edx-proctoring's attempt statuses, kept as a table rather than a branching function. Review
outcomes can only be reached by a named person: an automated flag never moves a session there.
"""

from __future__ import annotations

from typing import Any

from exams.models import SessionStatus as S
from proctor.errors import Conflict

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

# --- Groups of statuses: each named here once and used everywhere, templates and scripts included -----

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

#: Consented (and perhaps checked) but not started: a newer consent policy or privacy notice asks again.
BEFORE_START: frozenset[str] = frozenset({S.CONSENTED, S.READY})

#: Chunks are still accepted: during the attempt, and after it until its recordings are finalised.
UPLOADING: frozenset[str] = frozenset({S.STARTED, *ATTEMPT_ENDED})

#: The attempt is over and its analysis has not finished yet.
AWAITING_ANALYSIS: frozenset[str] = frozenset({*ATTEMPT_ENDED, S.ANALYSING})

#: The webcam may be analysed ahead, as its chunks arrive: under way, or ended and not yet analysed.
ANALYSABLE_AHEAD: frozenset[str] = frozenset({S.STARTED, *AWAITING_ANALYSIS})

#: From passing the identity check until the analysis has compared the recording with the enrolled
#: face: the face template is in use.
IDENTITY_IN_USE: frozenset[str] = frozenset({S.READY, S.STARTED, *AWAITING_ANALYSIS})

#: Waiting for a first decision by a reviewer ("to review"): analysed, or analysis failed and the
#: recordings are reviewed as they are.
TO_REVIEW: frozenset[str] = frozenset({S.READY_FOR_REVIEW, S.ANALYSIS_FAILED})

#: Reviewers decide flags in these, and the first decision on the session (again, under appeal).
UNDER_REVIEW: frozenset[str] = frozenset({S.READY_FOR_REVIEW, S.APPEALED})

#: A first decision on the session (no concern, or referred to a second reviewer) can be taken.
FIRST_DECISION: frozenset[str] = frozenset({*UNDER_REVIEW, S.ANALYSIS_FAILED})

#: A person has yet to decide something: a first review, a second review, an appeal.
AWAITING_PERSON: frozenset[str] = frozenset({*TO_REVIEW, S.SECOND_REVIEW, S.APPEALED})

#: Not yet anything for a reviewer to do: before, during and just after the attempt.
NOT_READY_FOR_REVIEW: frozenset[str] = frozenset(
    {S.CREATED, S.CONSENTED, S.DECLINED, S.READY, S.STARTED, *AWAITING_ANALYSIS}
)

#: A person has decided the session: its flags and outcome are shown to the student.
REVIEWED: frozenset[str] = frozenset({*COMPLETED, S.APPEALED})

#: An appealed session until the appeal is decided: under appeal, or referred to a second reviewer.
APPEAL_UNDECIDED: frozenset[str] = frozenset({S.APPEALED, S.SECOND_REVIEW})

#: The attempt, its analysis, a second review or an appeal is under way: the people deciding it need
#: the recordings, so they are kept until it ends.
RECORDINGS_IN_USE: frozenset[str] = frozenset({S.STARTED, S.ANALYSING, S.SECOND_REVIEW, S.APPEALED})

#: The machine is at work: the attempt is running, or its analysis.
RUNNING: frozenset[str] = frozenset({S.STARTED, S.ANALYSING})

#: Something went wrong for the student or the analysis: a confirmed concern, a failed analysis.
TROUBLE: frozenset[str] = frozenset({S.CONCERN_CONFIRMED, S.ANALYSIS_FAILED})

#: Every group above by name, for templates (the ``session_statuses`` context processor) and for the
#: browser's scripts (rendered with json_script in the base template).
GROUPS: dict[str, frozenset[str]] = {
    "COMPLETED": COMPLETED,
    "ATTEMPT_ENDED": ATTEMPT_ENDED,
    "HUMAN_ONLY": HUMAN_ONLY,
    "BEFORE_START": BEFORE_START,
    "UPLOADING": UPLOADING,
    "AWAITING_ANALYSIS": AWAITING_ANALYSIS,
    "ANALYSABLE_AHEAD": ANALYSABLE_AHEAD,
    "IDENTITY_IN_USE": IDENTITY_IN_USE,
    "TO_REVIEW": TO_REVIEW,
    "UNDER_REVIEW": UNDER_REVIEW,
    "FIRST_DECISION": FIRST_DECISION,
    "AWAITING_PERSON": AWAITING_PERSON,
    "NOT_READY_FOR_REVIEW": NOT_READY_FOR_REVIEW,
    "REVIEWED": REVIEWED,
    "APPEAL_UNDECIDED": APPEAL_UNDECIDED,
    "RECORDINGS_IN_USE": RECORDINGS_IN_USE,
    "RUNNING": RUNNING,
    "TROUBLE": TROUBLE,
}


def tone(status: str) -> str:
    """How a status badge is coloured: an outcome, trouble, a wait for a person, the machine at work."""
    if status == S.CLEARED:
        return "success"
    if status in TROUBLE:
        return "danger"
    if status in AWAITING_PERSON:
        return "warning"
    if status in RUNNING:
        return "info"
    return "neutral"


def groups_for_browser() -> dict[str, Any]:
    """The statuses and their groups as JSON-ready data, so scripts never keep a copy of their own."""
    return {
        "status": {member.name: member.value for member in S},
        "groups": {name: sorted(group) for name, group in GROUPS.items()},
    }


class TransitionError(Conflict):
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
