"""The data inventory: every model of every Invigil app, what personal data it holds, how long it is
kept and how it goes, and whether the student's export includes it. One entry per model; a model
that holds no personal data is listed as such. Tests check the declarations against the models, the
export and the purge (tests/privacy/test_inventory.py); docs/data-inventory.md is printed from here
(``manage.py data_inventory --markdown``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The apps whose models the inventory must cover, in import order (lowest first).
PROJECT_APPS = ("proctor", "identity", "exams", "recordings", "analysis", "review", "privacy")


class Retention(StrEnum):
    """How rows of a model are removed."""

    PURGE = "purge"
    PURGE_CLEARS = "purge clears"
    SESSION_RECORD = "session record"
    COURSE_RECORD = "course record"
    ACCOUNT = "account"
    EXAM = "exam"
    AUDIT_LOG = "audit log"
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
    _none("proctor.AuditHead", "The pointer to the newest audit entry."),
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
        model="exams.Accommodation",
        holds="The student's accommodations, which may reveal a disability or religious practice.",
        retention=Retention.EXAM,
        when="An exam with sessions cannot be deleted, so in practice kept with the course record.",
        in_export=True,
        export="Each accommodation in full.",
    ),
    Entry(
        model="exams.ConsentRecord",
        holds="The student's answer to a consent policy, and when.",
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
        retention=Retention.SESSION_RECORD,
        when="A hold is never deleted, only lifted; the session cannot be deleted while it has one.",
        in_export=True,
        export="When each hold was set and lifted; not its reason, which may name a confidential case.",
    ),
)

BY_MODEL: dict[str, Entry] = {entry.model: entry for entry in INVENTORY}


def entry_for(label: str) -> Entry:
    """The entry of a model by its label ("exams.Answer"); KeyError names an undeclared one."""
    try:
        return BY_MODEL[label]
    except KeyError:
        raise KeyError(f"{label} is not in the data inventory (privacy/inventory.py): declare what it holds.") from None
