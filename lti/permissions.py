"""Who may do what in the LMS integration's pages, decided here once, by the course rules of
exams.permissions (a refusal is audited there)."""

from __future__ import annotations

import enum
from typing import Any

from exams.models import ExamSession
from exams.permissions import Action, can
from exams.permissions import require as exams_require


class LtiAction(enum.Enum):
    #: The student of the attempt, enrolled in the course: open the LMS's assessment, read its status.
    TAKE_ASSESSMENT = "take the LMS's assessment of this session"
    #: The course's staff and admins: see what the LMS lets Invigil do about the attempt, and what was done.
    VIEW_CONTROL = "see the assessment control of this session"
    #: The course's instructors and admins: flag, pause, resume or end the attempt at the LMS.
    CONTROL_ATTEMPT = "flag, pause, resume or end this attempt at the LMS"


#: Each action of this app by the course rule it stands on, and the object that rule is asked about.
RULES: dict[LtiAction, Action] = {
    LtiAction.TAKE_ASSESSMENT: Action.RECORD_SESSION,
    LtiAction.VIEW_CONTROL: Action.REVIEW_SESSION,
    LtiAction.CONTROL_ATTEMPT: Action.MANAGE_EXAM,
}


def _object(action: LtiAction, session: ExamSession) -> Any:
    return session.exam if RULES[action] == Action.MANAGE_EXAM else session


def can_lti(user: Any, action: LtiAction, session: ExamSession) -> bool:
    return can(user, RULES[action], _object(action, session))


def require(user: Any, action: LtiAction, session: ExamSession) -> None:
    exams_require(user, RULES[action], _object(action, session))
