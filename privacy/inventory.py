"""The data inventory: every model of every Invigil app and of the libraries it installs, what
personal data it holds, how long it is kept and how it goes, and whether the student's export
includes it. One entry per model; a model that holds no personal data is listed as such. Tests check
the declarations against the models, the export and the purge (tests/privacy/test_inventory.py);
docs/data-inventory.md is printed from here (``manage.py data_inventory --markdown``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The apps whose models the inventory must cover, in import order (lowest first).
PROJECT_APPS = ("proctor", "identity", "exams", "recordings", "analysis", "review", "privacy", "lockdown", "lti")


class Retention(StrEnum):
    """How rows of a model are removed."""

    PURGE = "purge"
    PURGE_CLEARS = "purge clears"
    SESSION_RECORD = "session record"
    COURSE_RECORD = "course record"
    ACCOUNT = "account"
    EXAM = "exam"
    AUDIT_LOG = "audit log"
    LIBRARY = "library"
    NOT_PERSONAL = "no personal data"


RETENTION_MEANING: dict[Retention, str] = {
    Retention.PURGE: "Deleted by the daily retention purge (privacy.services.purge_due), crypto-shredded first.",
    Retention.PURGE_CLEARS: (
        "The row stays with the session record; the retention purge clears the fields named, crypto-shredded first."
    ),
    Retention.SESSION_RECORD: (
        "Kept with the exam session, as the course record of the attempt and its outcome; not purged "
        "automatically. Goes if the session row is deleted (cascade)."
    ),
    Retention.COURSE_RECORD: "Kept as part of the course record; not deleted automatically.",
    Retention.ACCOUNT: "Kept while the user account exists; deleted with it (cascade).",
    Retention.EXAM: "Kept while the exam exists; deleted with it (cascade).",
    Retention.AUDIT_LOG: "Kept for good in the append-only, hash-chained audit log (triggers refuse deletion).",
    Retention.LIBRARY: "Kept and removed by the library that owns it, as said; Invigil's purge does not reach it.",
    Retention.NOT_PERSONAL: "Holds no personal data.",
}

#: Retentions under which the purge reaches the rows.
PURGED = frozenset({Retention.PURGE, Retention.PURGE_CLEARS})


@dataclass(frozen=True)
class Entry:
    #: "app_label.ModelName", as Django's ``Model._meta.label``.
    model: str
    #: The personal data it holds, in a sentence; empty for a model that holds none.
    holds: str
    retention: Retention
    #: When and how it goes, beyond what the retention says (periods, exceptions).
    when: str = ""
    #: Whether the student's export (privacy/export.py) includes it.
    in_export: bool = False
    #: What of it the export gives, or why it is not given.
    export: str = ""
    #: For PURGE_CLEARS: the fields the purge empties.
    purge_clears: tuple[str, ...] = ()
    #: How to find one student's rows when no relation leads to them: a lookup taking the user's id.
    student_lookup: str = ""

    @property
    def personal(self) -> bool:
        return self.retention is not Retention.NOT_PERSONAL

    @property
    def purged(self) -> bool:
        return self.retention in PURGED


def _none(model: str, why: str) -> Entry:
    return Entry(model=model, holds="", retention=Retention.NOT_PERSONAL, export=why)


RECORDINGS_WHEN = (
    "The institution's recording retention (180 days by default) after the exam closed, unless a legal hold, "
    "a review in progress or an open appeal window keeps it."
)
PROFILE_WHEN = (
    "The institution's profile retention (365 days by default) after its last use, unless a legal hold keeps it; "
    "the student may delete it at any time outside an exam."
)

INVENTORY: tuple[Entry, ...] = (
    # proctor
    _none("proctor.DataKey", "A wrapped encryption key; destroying it is how recordings and profiles are shredded."),
    Entry(
        model="proctor.AuditEvent",
        holds="Who did what to which object, when and from which IP address: the student's sign-ins, "
        "failed sign-ins under their username, their actions, and staff's reads of their data.",
        retention=Retention.AUDIT_LOG,
        when="Never deleted: the log is the proof of who accessed what. It keeps ids, not the data read.",
        in_export=True,
        export="Sign-in events, the student's own actions, and who accessed their recordings.",
        student_lookup="actor_id",
    ),
    Entry(
        model="proctor.AuditSubject",
        holds="Which person's data each audit entry touched (user ids), the index behind the access report.",
        retention=Retention.AUDIT_LOG,
        when="Never deleted: each row is covered by its entry's hash.",
        in_export=False,
        export="An index, not data of its own: the entries it points to are the ones exported as who accessed "
        "the student's data.",
        student_lookup="subject_id",
    ),
    _none("proctor.AuditHead", "The pointer to the newest audit entry."),
    _none("proctor.QueuedTask", "A task name and object ids waiting for the broker; deleted once sent."),
    # identity
    Entry(
        model="identity.User",
        holds="Username, name, email address, password hash, when the account was made and last signed in.",
        retention=Retention.ACCOUNT,
        when="Not deleted automatically; an account with exam sessions cannot be deleted (the sessions protect it).",
        in_export=True,
        export="Username, name, email, when the account was made and last signed in (not the password hash).",
    ),
    Entry(
        model="identity.IdentityProfile",
        holds="The sealed face template (biometric) and the sealed photo ID.",
        retention=Retention.PURGE,
        when=PROFILE_WHEN + " The photo ID goes as soon as no check needs it.",
        in_export=True,
        export="The face template's numbers and the photo ID file, decrypted.",
    ),
    Entry(
        model="identity.BiometricConsent",
        holds="The student's answer to the face-matching notice, when, the notice's hash, and its withdrawal.",
        retention=Retention.ACCOUNT,
        when="Kept as the proof that no template was made or read without agreement.",
        in_export=True,
        export="Each answer, its notice version and hash, and its withdrawal.",
    ),
    _none("identity.BiometricNotice", "The text of a face-matching notice; the students' answers point at it."),
    Entry(
        model="identity.IdentityCheck",
        holds="Each identity check: face-match result and distance, or a person's decision on the photo ID "
        "with their reason.",
        retention=Retention.PURGE,
        when="Deleted with the identity profile (by the purge or by the student).",
        in_export=True,
        export="Each check with its result, or the person's decision and reason.",
    ),
    # exams
    _none("exams.Institution", "Retention periods and the institution's name."),
    _none("exams.Course", "A course's code and title."),
    Entry(
        model="exams.CourseMembership",
        holds="Which course a person belongs to, in which role, since when, and who appointed them.",
        retention=Retention.ACCOUNT,
        when="Also deleted when the person leaves the course.",
        in_export=True,
        export="Each course with the role and since when.",
    ),
    _none("exams.ConsentPolicy", "The text of a consent policy; the students' answers point at it."),
    Entry(
        model="exams.PrivacyNotice",
        holds="Which admin wrote the version (a staff user id); the text is the institution's, not a person's.",
        retention=Retention.COURSE_RECORD,
        when="Never edited or deleted while consent records point at it.",
        in_export=False,
        export="Not the student's data; each consent in the export names the notice version and hash it was given to.",
    ),
    Entry(
        model="exams.NoticeText",
        holds="Nothing of its own: the exact text shown, pointing at the version (whose author it names).",
        retention=Retention.COURSE_RECORD,
        when="Kept while consent records carry its hash.",
        in_export=False,
        export="Not the student's data; the hash is in each exported consent.",
    ),
    Entry(
        model="exams.Exam",
        holds="The contact for the alternative arrangement: a member of staff's name and address.",
        retention=Retention.COURSE_RECORD,
        when="An exam with sessions cannot be deleted.",
        in_export=False,
        export="Not the student's data: the staff contact is shown on the exam page.",
    ),
    _none("exams.Question", "An exam's questions."),
    _none("exams.Choice", "A question's choices."),
    Entry(
        model="exams.ExamSession",
        holds="The student's attempt at an exam: its status and times.",
        retention=Retention.SESSION_RECORD,
        when="The purge takes its recordings and what derives from them, not the session.",
        in_export=True,
        export="Each session with its exam, course, status and times.",
    ),
    Entry(
        model="exams.SessionTransition",
        holds="The history of the student's session: each status change, by whom and why.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="The status history, saying whether the student, staff or Invigil made each change.",
    ),
    Entry(
        model="exams.Answer",
        holds="The student's answers.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="Each answer with its question and when it was saved.",
    ),
    Entry(
        model="exams.Mark",
        holds=(
            "The marks each of the student's answers earned, whether automatic or from a person, who marked it, "
            "and the marker's comment."
        ),
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="Each mark with its question, the points possible, whether a person gave it, when, and the comment.",
    ),
    Entry(
        model="exams.Accommodation",
        holds=(
            "The student's accommodations, which may reveal a disability or religious practice, and the staff's "
            "reason for granting them."
        ),
        retention=Retention.EXAM,
        when="An exam with sessions cannot be deleted, so in practice kept with the course record.",
        in_export=True,
        export=(
            "Each accommodation and its note; not the staff's reason, which the privacy office gives on a request "
            "for access."
        ),
    ),
    Entry(
        model="exams.ExamBreak",
        holds="When the student took a break during an attempt under their accommodation.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="Each break's start and end.",
    ),
    Entry(
        model="exams.ConsentRecord",
        holds="The student's answer to a consent policy, and when, with the version and hash of the notice shown.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="Each consent with the policy, version, decision and time.",
    ),
    Entry(
        model="exams.AlternativeRequest",
        holds="The student's request for another way to sit the exam, with their reason (possibly sensitive), "
        "and the instructor's answer.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="The reason, the status and the instructor's answer.",
    ),
    # recordings
    Entry(
        model="recordings.Recording",
        holds="Video and audio of the student and their room, and their screen (sealed).",
        retention=Retention.PURGE,
        when=RECORDINGS_WHEN,
        in_export=True,
        export="Each recording, decrypted, as a WebM file, and its details.",
    ),
    Entry(
        model="recordings.RecordingChunk",
        holds="The sealed pieces of a recording as the browser sent them.",
        retention=Retention.PURGE,
        when="With their recording.",
        in_export=True,
        export="Joined and decrypted into the recording's file.",
    ),
    Entry(
        model="recordings.RecordingGap",
        holds="Which pieces of the student's recording never arrived.",
        retention=Retention.PURGE,
        when="With their recording.",
        in_export=True,
        export="As the missing pieces of each recording.",
    ),
    Entry(
        model="recordings.BrowserSignal",
        holds="What the student's browser did during the exam (tab hidden, copy, paste...).",
        retention=Retention.PURGE,
        when="With the session's recordings, even in a session with none.",
        in_export=True,
        export="Each signal with its time and detail.",
    ),
    # analysis
    Entry(
        model="analysis.AnalysisRun",
        holds="The automated analysis of the session: its score and breakdown, detectors switched off for "
        "accommodations, and statistics.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="The score, its breakdown and the detectors switched off, once a person has reviewed the session.",
    ),
    Entry(
        model="analysis.Flag",
        holds="A moment the detectors marked for a person to look at, why, and a sealed evidence picture.",
        retention=Retention.PURGE_CLEARS,
        when="The evidence picture goes with the recordings; the flag's record and verdict stay with the session.",
        in_export=True,
        export="Each flag and its evidence picture (decrypted), once a person has reviewed the session.",
        purge_clears=("evidence_thumbnail", "evidence_recording", "evidence_seconds"),
    ),
    Entry(
        model="analysis.AnalysisSegment",
        holds="When a face was absent, several were present or did not match, and when someone spoke "
        "(times and numbers).",
        retention=Retention.PURGE,
        when="With its recording.",
        in_export=True,
        export="The evidence of each analysed stretch, once a person has reviewed the session.",
    ),
    # review
    Entry(
        model="review.FlagDecision",
        holds="A reviewer's verdict and note on one of the student's flags, under the reviewer's name.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="The latest verdict on each flag with its note, once a person has reviewed the session.",
    ),
    Entry(
        model="review.SessionDecision",
        holds="A reviewer's decision on the student's session, with a note, under the reviewer's name.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="Each decision with its outcome, reviewer, time and note, once a person has reviewed the session.",
    ),
    Entry(
        model="review.Appeal",
        holds="The student's appeal against a confirmed concern, with their grounds.",
        retention=Retention.SESSION_RECORD,
        in_export=True,
        export="The grounds, when, and the outcome on appeal.",
    ),
    # privacy
    Entry(
        model="privacy.LegalHold",
        holds="That a student's session is kept past its retention, why, and by whom.",
        retention=Retention.COURSE_RECORD,
        when="A hold is never deleted, only lifted; the session cannot be deleted while it has one.",
        in_export=True,
        export="When each hold was set and lifted; not its reason, which may name a confidential case.",
    ),
    # lti
    _none("lti.Platform", "An LMS Invigil trusts: its issuer, client id and endpoints."),
    _none("lti.Deployment", "A deployment id of Invigil in an LMS."),
    _none("lti.ToolKey", "One of Invigil's signing keys, the private half sealed under a data key."),
    _none("lti.LoginState", "The state and nonce of a login in progress and a hash of a browser cookie; no user."),
    _none("lti.UsedNonce", "Nonces of accepted launch tokens, kept until the token would have expired."),
    Entry(
        model="lti.LtiIdentity",
        holds="The LMS's opaque identifier of the person (sub), linked to their account, and when they last "
        "launched Invigil from it.",
        retention=Retention.ACCOUNT,
        in_export=False,
        export="An opaque number the LMS chose, which says nothing about the person; the export gives the account "
        "it is linked to.",
    ),
    _none("lti.LtiContext", "Which Invigil course an LMS course is (the LMS's course id)."),
    _none("lti.ResourceLink", "Which Invigil exam an LMS item launches."),
    Entry(
        model="lti.ProctoringAttempt",
        holds="Which attempt at an assessment of the LMS a session is: the LMS's identifier of the student, its "
        "opaque session data and addresses, and when the LMS started and ended it.",
        retention=Retention.SESSION_RECORD,
        in_export=False,
        export="The session it belongs to is exported with its attempt number; the rest is the LMS's own "
        "bookkeeping, opaque to Invigil.",
    ),
    Entry(
        model="lti.ControlRequest",
        holds="A flag, pause, resume or end that a member of staff sent to the LMS about the student's attempt, "
        "with their reason and the LMS's answer.",
        retention=Retention.SESSION_RECORD,
        in_export=False,
        export="Each one is in the audit log, which the student's data page and export show (what was asked and when).",
    ),
    # lockdown
    _none(
        "lockdown.SafeExamBrowserRequirement",
        "An exam's Safe Exam Browser settings: its .seb file, Config Key and accepted Browser Exam Keys.",
    ),
)

#: Models of the libraries in INSTALLED_APPS: the export and the purge are Invigil's, so these say
#: where the data lives and what removes it.
LIBRARIES: tuple[Entry, ...] = (
    Entry(
        model="admin.LogEntry",
        holds="Each change made in the admin site, by which staff member, naming the object changed (which may be "
        "a student's record).",
        retention=Retention.LIBRARY,
        when="Django never deletes it. The audit log records the same changes (proctor/audited_admin.py).",
        export="Staff's record of their own work; the student's data it names is exported from its own model.",
    ),
    _none("auth.Permission", "Permission names."),
    _none("auth.Group", "Group names."),
    _none("contenttypes.ContentType", "Model names."),
    Entry(
        model="sessions.Session",
        holds="Which user a browser is signed in as, and the sign-in's times.",
        retention=Retention.LIBRARY,
        when="Ends with the sign-in (SESSION_COOKIE_AGE, shorter for staff); an ended session's row stays until "
        "`manage.py clearsessions` runs, which nothing schedules yet.",
        export="Only keys for a browser's sign-in; the sign-ins themselves are exported from the audit log.",
    ),
    Entry(
        model="axes.AccessAttempt",
        holds="Failed sign-ins: the username tried, IP address, browser (user agent) and count.",
        retention=Retention.LIBRARY,
        when="Deleted by the next successful sign-in, or once the lockout period has passed and another attempt "
        "is made.",
        export="The failed sign-ins under the student's username are exported from the audit log.",
    ),
    Entry(
        model="axes.AccessAttemptExpiration",
        holds="When a failed sign-in's lockout expires (with its attempt).",
        retention=Retention.LIBRARY,
        when="Unused (AXES_USE_ATTEMPT_EXPIRATION is off); would go with its attempt.",
        export="Holds nothing while unused.",
    ),
    Entry(
        model="axes.AccessLog",
        holds="Each sign-in and sign-out: username, IP address, browser (user agent) and times.",
        retention=Retention.LIBRARY,
        when="Kept until `manage.py axes_reset_logs` runs, which nothing schedules yet.",
        export="The same sign-ins are exported from the audit log (without the user agent).",
    ),
    Entry(
        model="axes.AccessFailureLog",
        holds="Failed sign-ins with IP address and user agent, when switched on.",
        retention=Retention.LIBRARY,
        when="Switched off (AXES_ENABLE_ACCESS_FAILURE_LOG is not set), so it stays empty.",
        export="Holds nothing while switched off.",
    ),
    _none("django_celery_beat.SolarSchedule", "Schedules of periodic tasks."),
    _none("django_celery_beat.IntervalSchedule", "Schedules of periodic tasks."),
    _none("django_celery_beat.ClockedSchedule", "Schedules of periodic tasks."),
    _none("django_celery_beat.CrontabSchedule", "Schedules of periodic tasks."),
    _none("django_celery_beat.PeriodicTasks", "When the schedule last changed."),
    _none("django_celery_beat.PeriodicTask", "The periodic tasks and when they last ran."),
    Entry(
        model="django_celery_results.TaskResult",
        holds="Background tasks' arguments and results: ids of sessions, recordings and users, no names or media.",
        retention=Retention.LIBRARY,
        when="Results expire after a day (Celery's result_expires); Celery beat's backend cleanup deletes them.",
        export="Ids only; what they point at is exported from its own model.",
    ),
    _none("django_celery_results.ChordCounter", "Counters of task groups."),
    _none("django_celery_results.GroupResult", "Results of task groups (task ids)."),
)

EVERYTHING: tuple[Entry, ...] = INVENTORY + LIBRARIES

BY_MODEL: dict[str, Entry] = {entry.model: entry for entry in EVERYTHING}


def entry_for(label: str) -> Entry:
    """The entry of a model by its label ("exams.Answer"); KeyError names an undeclared one."""
    try:
        return BY_MODEL[label]
    except KeyError:
        raise KeyError(f"{label} is not in the data inventory (privacy/inventory.py): declare what it holds.") from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "-"


def _export_cell(entry: Entry) -> str:
    return f"Yes: {entry.export}" if entry.in_export else f"No: {entry.export}"


def _personal_table(entries: list[Entry]) -> list[str]:
    lines = [
        "| Model | Personal data | Retention | When it goes | In the export |",
        "|---|---|---|---|---|",
    ]
    for entry in entries:
        when = entry.when
        if entry.purge_clears:
            when = f"{when} Cleared: {', '.join(f'`{name}`' for name in entry.purge_clears)}.".strip()
        cells = [f"`{entry.model}`", entry.holds, entry.retention.value, when, _export_cell(entry)]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def _plain_table(entries: list[Entry]) -> list[str]:
    lines = ["| Model | What it holds |", "|---|---|"]
    lines += [f"| `{entry.model}` | {_cell(entry.export)} |" for entry in entries]
    return lines


def inventory_markdown() -> str:
    """docs/data-inventory.md, as printed by ``manage.py data_inventory --markdown``."""
    own = [entry for entry in INVENTORY if entry.personal]
    lines = [
        "# Data inventory",
        "",
        "What Invigil holds about people, model by model: the personal data each model holds, how long it is kept "
        'and what removes it, and whether a student\'s export ("My data", download) includes it.',
        "",
        "This page is printed from `privacy/inventory.py` by `python manage.py data_inventory --markdown`. Tests "
        "fail when it and the code differ, when a model is missing from the inventory, when a model that leads to "
        "a user or an exam session is not declared personal, when a model declared in the export is missing from "
        "a full student's export, and when the purge leaves a model declared purged (or removes one declared kept). "
        "Admins see the same at `/privacy/inventory/`.",
        "",
        "## How data is kept",
        "",
        "| Retention | Meaning |",
        "|---|---|",
        *(f"| {kind.value} | {_cell(meaning)} |" for kind, meaning in RETENTION_MEANING.items()),
        "",
        "## Invigil's models that hold personal data",
        "",
        *_personal_table(own),
        "",
        "## Invigil's models that hold no personal data",
        "",
        *_plain_table([entry for entry in INVENTORY if not entry.personal]),
        "",
        "## Models of the libraries Invigil installs",
        "",
        "Invigil's export and purge do not reach these; each entry says what removes its data.",
        "",
        *_personal_table([entry for entry in LIBRARIES if entry.personal]),
        "",
        *_plain_table([entry for entry in LIBRARIES if not entry.personal]),
        "",
    ]
    return "\n".join(lines)


def inventory_table() -> str:
    """The inventory as a plain-text table, for the terminal."""
    rows = [("Model", "Retention", "Export", "Personal data")]
    for entry in EVERYTHING:
        exported = ("yes" if entry.in_export else "no") if entry.personal else "-"
        rows.append((entry.model, entry.retention.value, exported, entry.holds or f"None: {entry.export}"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * len(row[3]))
    return "\n".join(line.rstrip() for line in lines) + "\n"
