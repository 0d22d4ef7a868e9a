"""Every action the audit log records, as one enumeration: its stored value, what it means in plain
words, and what it means to the person whose data it touched (their "My data" page and export).

After Zulip's AuditLogEventType. Proctor imports no app, so the actions of every app are listed here;
the values are what the log has always stored, so older entries keep their meaning.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """``label`` says what happened; ``to_student`` says it to the student whose data it was, for the
    entries their "My data" page and export show; ``reads_recordings`` marks an access to their
    recordings (their access log)."""

    label: str
    to_student: str
    reads_recordings: bool

    def __new__(cls, value: str, label: str = "", to_student: str = "", reads_recordings: bool = False) -> AuditAction:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.to_student = to_student
        member.reads_recordings = reads_recordings
        return member

    # Signing in and out (identity/receivers.py, identity/reauth.py).
    LOGIN = "auth.login", "Signed in", "Signed in"
    LOGOUT = "auth.logout", "Signed out", "Signed out"
    LOGIN_FAILED = (
        "auth.login_failed",
        "A sign-in failed",
        "Someone tried to sign in under your username with a wrong password",
    )
    REAUTHENTICATE = "auth.reauthenticate", "Confirmed their password again"
    ACCESS_REFUSED = "access.refused", "Was refused access"
    ACCESS_PURPOSE = "access.purpose", "Stated why they open a session's data"

    # Exams and attempts (exams).
    EXAM_PUBLISH = "exam.publish", "Published an exam"
    EXAM_UNPUBLISH = "exam.unpublish", "Unpublished an exam"
    EXAM_ALTERNATIVE_SET = "exam.alternative_set", "Set an exam's alternative arrangement"
    PRIVACY_NOTICE_ADD = "privacy_notice.add", "Added a privacy notice version"
    SESSION_OPEN = "session.open", "Opened an exam"
    SESSION_CONSENT_RENEWED = "session.consent_renewed", "Agreed again to a new consent policy version"
    SESSION_TRANSITION = "session.transition", "Changed an exam session's status"
    BREAK_START = "session.break_start", "Started a break under their accommodation", "Started a break"
    BREAK_END = "session.break_end", "Came back from a break", "Came back from a break"
    EXAM_CREATE = "exam.create", "Created an exam"
    EXAM_UPDATE = "exam.update", "Changed an exam's settings"
    EXAM_DUPLICATE = "exam.duplicate", "Duplicated an exam"
    QUESTION_ADD = "exam.question_add", "Added a question to an exam"
    QUESTION_CHANGE = "exam.question_change", "Changed a question of an exam"
    QUESTION_DELETE = "exam.question_delete", "Removed a question from an exam"
    QUESTION_MOVE = "exam.question_move", "Moved a question of an exam"
    EXAM_CONSENT_POLICY_ADD = "exam.consent_policy_add", "Added a consent policy version for an exam"
    ROSTER_STUDENT_ADD = "roster.student_add", "Added a student to a class list"
    ROSTER_IMPORT = "roster.import", "Imported students into a class list"
    ROSTER_STUDENT_REMOVE = "roster.student_remove", "Removed a student from a class list"
    ROSTER_REVIEWER_APPOINT = "roster.reviewer_appoint", "Appointed a reviewer"
    ROSTER_REVIEWER_REMOVE = "roster.reviewer_remove", "Removed a reviewer"
    ACCOMMODATION_SET = "accommodation.set", "Set a student's accommodations"
    ACCOMMODATION_REMOVE = "accommodation.remove", "Removed a student's accommodations"
    ALTERNATIVE_REQUEST = "alternative.request", "Asked for the alternative arrangement"
    ALTERNATIVE_ANSWER = "alternative.answer", "Answered a request for the alternative arrangement"
    MARKS_AUTOMATIC = "marks.automatic", "Marked a session's choice and numeric answers automatically"
    MARKS_VIEW = "marks.view", "Opened a session's answers and marks"
    MARK_SET = "marks.set", "Marked a short answer"
    DEMO_SEED = "demo.seed", "Created the demo course and people"

    # Identity (identity).
    BIOMETRIC_CONSENT = "identity.biometric_consent", "Answered the face-matching notice"
    BIOMETRIC_WITHDRAW = "identity.biometric_withdraw", "Withdrew agreement to face matching"
    ENROL = "identity.enrol", "Enrolled a face"
    ID_PHOTO = "identity.id_photo", "Stored a photo ID"
    VERIFY = "identity.verify", "Checked a face against the enrolled one"
    MANUAL_REQUEST = "identity.manual_request", "Asked for a manual identity check"
    MANUAL_DECIDE = "identity.manual_decide", "Decided a manual identity check"
    MANUAL_QUEUE_VIEW = "identity.manual_queue_view", "Opened the manual identity checks"
    TEMPLATE_READ = "identity.template_read", "Read an enrolled face template"
    ID_PHOTO_VIEW = "identity.id_photo_view", "Looked at a photo ID"
    PROFILE_DELETE = "identity.profile_delete", "Deleted their identity profile"

    # Recordings and their analysis (recordings, analysis).
    RECORDING_START = "recording.start", "Started a recording"
    RECORDING_FINALISE = "recording.finalise", "Finalised a recording"
    RECORDING_PLAY = "recording.play", "Played recordings", "Played your recordings", True
    ANALYSIS_START = "analysis.start", "Started the automated analysis", "Automated analysis read your recordings", True
    ANALYSIS_COMPLETE = "analysis.complete", "Finished the automated analysis"
    ANALYSIS_FAIL = "analysis.fail", "The automated analysis failed"

    # Review (review).
    REVIEW_DASHBOARD_VIEW = "review.dashboard_view", "Opened the review dashboard"
    REVIEW_SESSION_VIEW = (
        "review.session_view",
        "Opened a session's review page",
        "Opened the review page of your session",
        True,
    )
    REVIEW_EXPORT = "review.export", "Exported review results"
    FLAG_THUMBNAIL_VIEW = (
        "flag.thumbnail_view",
        "Looked at an evidence picture",
        "Looked at an evidence picture from your recordings",
        True,
    )
    FLAG_DECIDE = "flag.decide", "Decided a flag"
    SESSION_DECIDE = "session.decide", "Decided a session"
    SESSION_APPEAL = "session.appeal", "Appealed an outcome"
    DEMO_RECORD_ATTEMPT = "demo.record_attempt", "Recorded a demo attempt"

    # Privacy, retention and keys (privacy, proctor).
    PRIVACY_EXPORT = "privacy.export", "Downloaded their data"
    HOLD_SET = "hold.set", "Set a legal hold"
    HOLD_LIFT = "hold.lift", "Lifted a legal hold"
    PURGE_RECORDINGS = "retention.purge_recordings", "Purged a session's recordings on schedule"
    PURGE_PROFILE = "retention.purge_profile", "Purged an identity profile on schedule"
    KEYS_ROTATE = "keys.rotate", "Rotated the key-encryption keys"
    KEY_PERIOD_DESTROYED = "key_period.destroyed", "Destroyed a key period"
    AUDIT_ACCESS_REPORT = "audit.access_report", "Ran an access report on the audit log"

    # The LMS (lti).
    LTI_LOGIN_REFUSED = "lti.login_refused", "A sign-in from an LMS was refused"
    LTI_LAUNCH = "lti.launch", "Launched Invigil from an LMS", "Opened Invigil from your course's LMS"
    LTI_LAUNCH_REFUSED = "lti.launch_refused", "A launch from an LMS was refused"
    LTI_PROVISION = "lti.provision", "Created or updated an account, course or role from an LMS launch"
    LTI_DEEP_LINK = "lti.deep_link", "Attached an Invigil exam to an LMS item"
    LTI_KEYS_ROTATE = "lti.keys_rotate", "Rotated Invigil's LTI signing keys"
    LTI_START_PROCTORING = (
        "lti.start_proctoring",
        "Started a proctored attempt from the LMS",
        "Started a proctored attempt at an assessment of your LMS",
    )
    LTI_START_ASSESSMENT = (
        "lti.start_assessment",
        "Handed a student to the LMS's assessment",
        "Opened the LMS's assessment while being recorded",
    )
    LTI_END_ASSESSMENT = (
        "lti.end_assessment",
        "The LMS ended a proctored attempt",
        "Your LMS told Invigil you finished the assessment",
    )
    LTI_CONTROL_VIEW = (
        "lti.control_view",
        "Opened a session's assessment control (what was sent to the LMS about the attempt)",
        "Staff looked at what was sent to your LMS about your attempt",
    )
    LTI_CONTROL = (
        "lti.control",
        "Sent an assessment control (flag, pause, resume or end) to the LMS",
        "Staff asked your LMS to flag, pause, resume or end your attempt",
    )

    # Safe Exam Browser (lockdown).
    LOCKDOWN_SET = "lockdown.set", "Changed an exam's Safe Exam Browser requirement"
    LOCKDOWN_REFUSED = (
        "lockdown.refused",
        "Was refused: not in Safe Exam Browser with the exam's configuration",
        "Your exam was refused because it was not opened in Safe Exam Browser with the exam's configuration",
    )
    LOCKDOWN_VERIFIED = (
        "lockdown.verified",
        "Safe Exam Browser's keys were checked through its JavaScript API",
        "Safe Exam Browser's keys were checked when you opened your exam",
    )

    # The admin (proctor/audited_admin.py).
    ADMIN_VIEW = "admin.view", "Viewed a record in the admin"
    ADMIN_LIST = "admin.list", "Listed records in the admin"
    ADMIN_ADD = "admin.add", "Added a record in the admin"
    ADMIN_CHANGE = "admin.change", "Changed a record in the admin"
    ADMIN_INLINE_SAVE = "admin.inline_save", "Saved a related record in the admin"
    ADMIN_INLINE_DELETE = "admin.inline_delete", "Deleted a related record in the admin"
    ADMIN_DELETE = "admin.delete", "Deleted records in the admin"


def action_label(value: str) -> str:
    """What a stored action means in plain words; a value no member has (none today) is shown as it is."""
    try:
        return AuditAction(value).label
    except ValueError:
        return value


#: Reads of a student's recordings, in the student's words: their access log (privacy.selectors).
RECORDING_ACCESSES: dict[str, str] = {action: action.to_student for action in AuditAction if action.reads_recordings}
