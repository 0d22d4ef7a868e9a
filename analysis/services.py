"""Writes of analysis: start a run, perform it, record its flags, or record why it failed.

A run reads the finalised recordings as decrypted streams (plaintext only in memory), hands them to
the pure detectors, and writes all its flags in one transaction at the end, so a run stopped in the
middle leaves nothing behind and the next one starts clean. The session moves to "ready for review"
or "analysis failed"; nothing here can move it any further: only a person decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from analysis import browser, media, pipeline, rules, vision
from analysis.detectors import DETECTOR_VERSIONS
from analysis.models import AnalysisRun, AnalysisSegment, Flag, RunStatus
from exams.lifecycle import ANALYSABLE_AHEAD, ATTEMPT_ENDED
from exams.models import Check, ExamSession, SessionStatus
from exams.selectors import session_accommodation
from exams.services import exam_group, session_group, session_transition
from identity.consent import biometric_consent_in_force
from identity.selectors import identity_has_template, identity_template
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.crypto import DecryptionError
from proctor.outbox import task_queue_after_commit
from proctor.realtime import broadcast_on_commit, group_send_now
from recordings.models import Recording, RecordingStatus, StreamKind
from recordings.remux import MediaError
from recordings.selectors import recording_gap_times, recording_plaintext, recording_span
from recordings.services import ANALYSIS_TASK, recording_seal_thumbnail

logger = logging.getLogger(__name__)

#: A running analysis that has not reported for this long is taken to have stopped (worker killed).
STALE_AFTER = timedelta(seconds=settings.INVIGIL_ANALYSIS_STALE_SECONDS)
#: Runs that stop without finishing (killed, crashed, out of retries) before a session is failed.
MAX_ATTEMPTS = 3
#: Heartbeats and progress broadcasts at most this often.
PROGRESS_EVERY_SECONDS = 2.0


class AnalysisFailed(Exception):
    """The session cannot be analysed; the message says why, for the people who review it."""


#: While an exam is under way its webcam is analysed a stretch at a time, each time this many new
#: chunks have arrived (about a minute of recording), so that little is left to do at submit.
AHEAD_EVERY_CHUNKS = 20
#: Evidence this close to the end of what has arrived is left to the next stretch: the speech
#: detector's noise floor looks two seconds ahead, and the last chunk may end in the middle of a frame.
AHEAD_SAFETY_SECONDS = 5.0
#: A stretch decodes from this long before the evidence it keeps, so its detectors start with context.
STRETCH_CONTEXT_SECONDS = 4.0
#: ...and reads from this much earlier still, so that a keyframe (Firefox and Safari space them up to
#: about ten seconds apart) comes before the first frame it samples.
STRETCH_READ_BACK_SECONDS = 15.0


def analysis_queue(session_id: Any) -> None:
    """Queue the analysis of a session once the current transaction commits (through the outbox, so a
    broker that is down then only delays it)."""
    task_queue_after_commit(ANALYSIS_TASK, args=[str(session_id)])


# --- Starting and ending a run ------------------------------------------------------------------


def _fail_session(session: ExamSession, reason: str) -> None:
    session_transition(
        session_id=session.pk,
        to_status=SessionStatus.ANALYSIS_FAILED,
        actor=None,
        reason=f"Automated analysis failed: {reason} The recordings can still be reviewed by a person.",
    )


def _locked_run(run_id: int) -> tuple[ExamSession, AnalysisRun]:
    """The run and its session, locked session first (the order analysis_run_start locks them in, so
    two writers never deadlock)."""
    session_id = AnalysisRun.objects.filter(pk=run_id).values_list("session_id", flat=True).get()
    session = ExamSession.objects.select_for_update().get(pk=session_id)
    return session, AnalysisRun.objects.select_for_update().get(pk=run_id)


@transaction.atomic
def analysis_run_start(*, session_id: Any, stale_after: timedelta = STALE_AFTER) -> AnalysisRun | None:
    """Begin a run, or return None when there is nothing to do: the session is not waiting for
    analysis, or a live run is on it already. A run whose worker stopped is marked abandoned and
    replaced, so a re-delivered task completes the work."""
    session = ExamSession.objects.select_for_update(of=("self",)).select_related("exam").get(pk=session_id)
    if session.status in ATTEMPT_ENDED:
        if Recording.objects.filter(session=session, status=RecordingStatus.RECORDING).exists():
            return None  # still uploading: finalisation queues the analysis again
        session_transition(
            session_id=session.pk,
            to_status=SessionStatus.ANALYSING,
            actor=None,
            reason="The recordings are complete; automated analysis started.",
        )
    elif session.status != SessionStatus.ANALYSING:
        return None
    running = AnalysisRun.objects.filter(session=session, status=RunStatus.RUNNING).first()
    if running is not None:
        if running.heartbeat_at > timezone.now() - stale_after:
            return None
        running.status = RunStatus.ABANDONED
        running.finished_at = timezone.now()
        running.failure_reason = "The worker stopped before finishing; a new run took over."
        running.save(update_fields=["status", "finished_at", "failure_reason"])
    # Runs that stopped since the session last entered analysis (a person's retry starts the count afresh).
    stopped = AnalysisRun.objects.filter(
        session=session, status=RunStatus.ABANDONED, started_at__gte=session.status_changed_at
    ).count()
    if stopped >= MAX_ATTEMPTS:
        # Something about this session stops every worker that tries it: a person has to look.
        reason = f"The analysis stopped {stopped} times before finishing, so it was not tried again."
        AnalysisRun.objects.create(
            session=session,
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            failure_reason=reason,
            sensitivity=session.exam.sensitivity,
            detector_versions=DETECTOR_VERSIONS,
        )
        _fail_session(session, reason)
        return None
    thresholds, exemptions = _settings_for(session)
    run = AnalysisRun.objects.create(
        session=session,
        sensitivity=thresholds.sensitivity,
        exemptions=exemptions.reasons(),
        detector_versions=DETECTOR_VERSIONS,
        stage="Starting",
    )
    audit_record(actor=None, action=AuditAction.ANALYSIS_START, target=session, detail={"run": run.pk})
    return run


def _settings_for(session: ExamSession) -> tuple[rules.Thresholds, rules.Exemptions]:
    exam = session.exam
    accommodation = session_accommodation(session)
    off = exam.checks_switched_off()
    exemptions = rules.Exemptions(
        no_video=not exam.record_webcam or bool(accommodation and accommodation.no_camera),
        no_audio=not exam.record_audio,
        no_screen=not exam.record_screen,
        speech_allowed=bool(accommodation and accommodation.speech_allowed),
        face_covering=bool(accommodation and accommodation.face_covering),
        breaks=_breaks_of(session),
        checks_off={check: f"{Check(check).label.lower()}: check off, {why}" for check, why in off.items()},
    )
    return rules.THRESHOLDS[exam.sensitivity], exemptions


def _breaks_of(session: ExamSession) -> tuple[tuple[float, float], ...]:
    """The breaks the attempt's clock stood still for, in seconds into the attempt: a break that ran
    past the student's break time counts only up to it."""
    started = session.started_at or session.created_at
    return tuple(
        ((b.started_at - started).total_seconds(), (b.started_at - started).total_seconds() + b.counted_seconds())
        for b in session.breaks.all()
    )


@dataclass
class Outcome:
    events: list[rules.Event]
    score: rules.Score
    recorded_seconds: float
    #: Per event index: (recording, media-independent session moment, sealed JPEG).
    thumbnails: dict[int, tuple[Recording, float, bytes]] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@transaction.atomic
def analysis_run_complete(*, run_id: int, outcome: Outcome, cpu_seconds: float) -> bool:
    """Record the run's flags and score and make the session ready for review, all at once.
    Returns False (writing nothing) when another run has taken over in the meantime."""
    session, run = _locked_run(run_id)
    if run.status != RunStatus.RUNNING or session.status != SessionStatus.ANALYSING:
        return False
    thresholds = rules.THRESHOLDS[run.sensitivity]
    Flag.objects.bulk_create(
        [
            _flag(run, index, event, thresholds, outcome.thumbnails.get(index))
            for index, event in enumerate(outcome.events)
        ]
    )
    run.status = RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    run.progress = 100
    run.stage = "Done"
    run.score = outcome.score.value
    run.score_breakdown = outcome.score.as_dict()
    run.recorded_seconds = outcome.recorded_seconds
    run.cpu_seconds = round(cpu_seconds, 2)
    run.statistics = outcome.statistics
    run.exemptions = [*run.exemptions, *outcome.notes]
    run.save()
    concerns = sum(1 for event in outcome.events if rules.RULES[event.kind].category == rules.Category.CONCERN)
    technical = len(outcome.events) - concerns
    session_transition(
        session_id=session.pk,
        to_status=SessionStatus.READY_FOR_REVIEW,
        actor=None,
        reason=(
            f"Automated analysis finished: {concerns} flag{'s' if concerns != 1 else ''} for review and "
            f"{technical} technical event{'s' if technical != 1 else ''}; score {outcome.score.value}. "
            "A person decides."
        ),
    )
    audit_record(
        actor=None,
        action=AuditAction.ANALYSIS_COMPLETE,
        target=session,
        detail={"run": run.pk, "flags": len(outcome.events), "score": outcome.score.value},
    )
    _broadcast(session, run, on_commit=True)
    return True


def _flag(
    run: AnalysisRun,
    index: int,
    event: rules.Event,
    thresholds: rules.Thresholds,
    thumbnail: tuple[Recording, float, bytes] | None,
) -> Flag:
    rule = rules.RULES[event.kind]
    return Flag(
        run=run,
        session_id=run.session_id,
        kind=event.kind.value,
        category=rule.category.value,
        start_seconds=round(event.start, 2),
        end_seconds=round(event.end, 2),
        severity=rules.severity(event).value,
        confidence=event.confidence,
        reason=rules.reason(event),
        detector=rule.detector,
        detector_version=DETECTOR_VERSIONS[rule.detector],
        thresholds=thresholds.for_kind(event.kind),
        detail={**event.detail, "false_alarm_causes": list(rules.FALSE_ALARM_CAUSES[event.kind])},
        evidence_recording=thumbnail[0] if thumbnail else None,
        evidence_seconds=thumbnail[1] if thumbnail else None,
        evidence_thumbnail=thumbnail[2] if thumbnail else None,
    )


@transaction.atomic
def analysis_run_fail(*, run_id: int, reason: str) -> None:
    """The run cannot finish: say why, and leave the session for a person (or a retry)."""
    session, run = _locked_run(run_id)
    if run.status != RunStatus.RUNNING:
        return
    run.status = RunStatus.FAILED
    run.finished_at = timezone.now()
    run.failure_reason = reason
    run.save(update_fields=["status", "finished_at", "failure_reason"])
    if session.status == SessionStatus.ANALYSING:
        _fail_session(session, reason)
    audit_record(actor=None, action=AuditAction.ANALYSIS_FAIL, target=session, detail={"run": run.pk, "reason": reason})
    _broadcast(session, run, on_commit=True)


@transaction.atomic
def analysis_retry(*, session_id: Any, actor: Any, reason: str = "", request: Any = None) -> ExamSession:
    """A person asks for a failed analysis to run again. Raises TransitionError unless it failed."""
    session = session_transition(
        session_id=session_id,
        to_status=SessionStatus.ANALYSING,
        actor=actor,
        request=request,
        reason=reason or "Analysis retried.",
    )
    analysis_queue(session.pk)
    return session


def _broadcast(session: ExamSession, run: AnalysisRun, *, on_commit: bool) -> None:
    event = {
        "session_id": str(session.pk),
        "run": run.pk,
        "status": run.status,
        "stage": run.stage,
        "progress": run.progress,
        "failure_reason": run.failure_reason,
    }
    send = broadcast_on_commit if on_commit else group_send_now
    send(exam_group(session.exam_id), "analysis.progress", event)
    send(session_group(session.pk), "analysis.progress", event)


# --- Performing a run (outside any transaction: minutes of work) ----------------------------------


class Progress:
    """Heartbeat and progress of a run: stored on the run and broadcast, at most every few seconds."""

    def __init__(self, run: AnalysisRun, total_bytes: int) -> None:
        self.run = run
        self.total = max(total_bytes, 1)
        self.done = 0
        self.last = 0.0

    def stage(self, text: str) -> None:
        self.run.stage = text
        self.report(force=True)

    def bytes_read(self, base: int) -> Callable[[int], None]:
        def callback(read: int) -> None:
            self.done = base + read
            self.report()

        return callback

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        self.run.progress = min(99, int(100 * self.done / self.total))
        updated = AnalysisRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            progress=self.run.progress, stage=self.run.stage, heartbeat_at=timezone.now()
        )
        if not updated:
            raise AnalysisSuperseded
        _broadcast(self.run.session, self.run, on_commit=False)


class AnalysisSuperseded(Exception):
    """Another run took this one's place (it was thought stopped): stop working."""


def analysis_perform(*, run: AnalysisRun) -> Outcome:
    """Run every detector the session's settings allow. Raises AnalysisFailed for unusable media."""
    session = ExamSession.objects.select_related("exam").get(pk=run.session_id)
    _, exemptions = _settings_for(session)
    thresholds = rules.THRESHOLDS[run.sensitivity]  # as recorded when the run began
    started = session.started_at or session.created_at
    ended = session.ended_at or timezone.now()
    recorded_seconds = max((ended - started).total_seconds(), 0.0)
    recordings = list(
        Recording.objects.filter(session=session, status=RecordingStatus.FINALISED)
        .select_related("data_key")
        .order_by("kind", "part")
    )
    spans = {r.pk: recording_span(r) for r in recordings}
    for kind in {r.kind for r in recordings}:
        if all(spans[r.pk] is None for r in recordings if r.kind == kind):
            label = StreamKind(kind).label.lower()
            raise AnalysisFailed(
                f"The {label} recording is empty: it was started, but no part of it reached the server."
            )
    # A part that never got a chunk has nothing to analyse; its time shows up as not recorded.
    covering = {pk: span for pk, span in spans.items() if span is not None}
    recordings = [r for r in recordings if r.pk in covering]
    webcams = [r for r in recordings if r.kind == StreamKind.WEBCAM]
    screens = [r for r in recordings if r.kind == StreamKind.SCREEN]
    # Each part sits on the attempt's clock where its first chunk began (see recordings.protocol).
    offsets = {pk: (span[0] - started).total_seconds() for pk, span in covering.items()}
    sizes = {r.pk: sum(r.chunks.values_list("size", flat=True)) for r in webcams}
    progress = Progress(run, sum(sizes.values()))
    notes: list[str] = []

    detectors = _webcam_detectors(session, exemptions)
    if detectors.verify and not detectors.template:
        notes.append(
            "no enrolled face: face verification off"
            if biometric_consent_in_force(user_id=session.student_id)
            else "the student did not agree to face matching: face verification off, no template read"
        )
    template = _template_for(session, detectors) if webcams else None

    evidence: list[rules.Evidence] = []
    statistics: dict[str, Any] = {"webcam_parts": len(webcams), "screen_parts": len(screens)}
    base = 0
    for recording in webcams if detectors.any else []:
        progress.stage(f"Analysing the webcam recording (part {recording.part + 1})")
        found = _webcam_evidence(
            recording,
            offset=offsets[recording.pk],
            template=template,
            detectors=detectors,
            progress=progress.bytes_read(base),
            statistics=statistics,
        )
        evidence += found
        base += sizes[recording.pk]

    progress.stage("Reading browser signals and recording gaps")
    signals = [
        browser.Signal(kind, (at - started).total_seconds())
        for kind, at in session.browser_signals.values_list("kind", "client_time")
    ]
    part_starts: dict[str, list[float]] = {}
    for recording in recordings:
        part_starts.setdefault(recording.kind, []).append(offsets[recording.pk])
    evidence += browser.signal_evidence(signals, end=recorded_seconds, part_starts=part_starts)
    gaps = [
        ((start - started).total_seconds(), ((end or ended) - started).total_seconds())
        for recording in recordings
        for start, end in recording_gap_times(recording)
    ]
    evidence += browser.gap_evidence(gaps)
    for kind, required in ((StreamKind.WEBCAM, not exemptions.no_video), (StreamKind.SCREEN, not exemptions.no_screen)):
        if required:
            covered = [
                (offsets[r.pk], (covering[r.pk][1] - started).total_seconds()) for r in recordings if r.kind == kind
            ]
            evidence += browser.uncovered_evidence(str(kind), covered, end=recorded_seconds)

    events = rules.events_from(evidence, thresholds, exemptions)
    progress.stage("Preparing evidence pictures")
    chosen = _thumbnails_for(events, webcams, screens, offsets)
    return Outcome(
        events=events,
        score=rules.score(events, recorded_seconds=recorded_seconds),
        recorded_seconds=round(recorded_seconds, 1),
        thumbnails=chosen,
        statistics=statistics,
        notes=notes,
    )


@dataclass(frozen=True)
class WebcamDetectors:
    """Which of the webcam's detectors run for a session, after its exemptions."""

    faces: bool
    voice: bool
    #: Face verification is allowed, and whether there is a template to verify against.
    verify: bool
    template: bool

    @property
    def any(self) -> bool:
        return self.faces or self.voice

    def key(self) -> str:
        """Stretches analysed with other detectors, or other versions of them, cannot be reused: this
        tells them apart."""
        faces = ("faces+template" if self.verify and self.template else "faces") if self.faces else ""
        if faces:
            faces += f"@{DETECTOR_VERSIONS['face-presence']}/{DETECTOR_VERSIONS['face-verification']}"
        voice = f"voice@{DETECTOR_VERSIONS['voice-activity']}" if self.voice else ""
        return ",".join(part for part in (faces, voice) if part) or "none"


def _webcam_detectors(session: ExamSession, exemptions: rules.Exemptions) -> WebcamDetectors:
    faces = any(exemptions.allows(k) for k in (rules.Kind.NO_FACE, rules.Kind.MULTIPLE_FACES, rules.Kind.FACE_MISMATCH))
    verify = faces and exemptions.allows(rules.Kind.FACE_MISMATCH)
    has = verify and identity_has_template(user_id=session.student_id)
    return WebcamDetectors(faces, exemptions.allows(rules.Kind.SPEECH), verify, has)


def _template_for(session: ExamSession, detectors: WebcamDetectors) -> Any:
    """The student's template, read (and audited) only when face verification will use it."""
    if not (detectors.faces and detectors.verify and detectors.template):
        return None
    return identity_template(user_id=session.student_id, purpose="analysis", reference=str(session.pk))


def _last_stretch(recording: Recording, key: str) -> AnalysisSegment | None:
    return AnalysisSegment.objects.filter(recording=recording, detectors=key).order_by("-to_seconds").first()


def _stretch_due(previous: AnalysisSegment | None, chunks: int, *, final: bool) -> bool:
    """Whether a part has a stretch to analyse: none yet, or the rest of a finalised part, or enough new
    chunks since the last stretch of one still being recorded."""
    if previous is None:
        return True
    if previous.final:
        return False
    return final or chunks - previous.chunks >= AHEAD_EVERY_CHUNKS


def analysis_stretch(
    *,
    recording: Recording,
    template: Any,
    detectors: WebcamDetectors,
    final: bool,
    progress: Callable[[int], None] | None = None,
) -> AnalysisSegment | None:
    """Analyse a webcam part from where its last stretch ended: to the end, when the part is final; to
    a little before the end of what has arrived, while it is still being recorded (and only once
    enough new chunks have come). Returns the stretch, or None when there was nothing to do or
    another worker did it. Raises MediaError or DecryptionError for a part that cannot be read."""
    key = detectors.key()
    previous = _last_stretch(recording, key)
    chunks = recording.chunks.count()
    if not _stretch_due(previous, chunks, final=final):
        return None
    start = previous.to_seconds if previous is not None else 0.0
    cpu = time.process_time()
    decode_from = max(0.0, start - STRETCH_CONTEXT_SECONDS)
    result = pipeline.analyse_webcam(
        recording_plaintext(recording, from_seconds=max(0.0, decode_from - STRETCH_READ_BACK_SECONDS)),
        template=template if detectors.faces else None,
        faces=detectors.faces,
        voice=detectors.voice,
        progress=progress,
        start_at=decode_from,
    )
    end = max(result.end + 1.0, start + 0.001) if final else result.end - AHEAD_SAFETY_SECONDS
    if end <= start:
        return None
    kept = [_within(piece, start, end) for piece in result.evidence if _overlaps(piece, start, end)]
    try:
        with transaction.atomic():
            return AnalysisSegment.objects.create(
                recording=recording,
                from_seconds=start,
                to_seconds=end,
                chunks=chunks,
                final=final,
                detectors=key,
                evidence=[rules.evidence_to_dict(piece) for piece in kept],
                statistics=result.statistics,
                cpu_seconds=round(time.process_time() - cpu, 3),
            )
    except IntegrityError:
        return None  # another worker analysed this stretch first


def _overlaps(piece: rules.Evidence, start: float, end: float) -> bool:
    """Whether the piece of evidence has any part in the stretch [start, end) (a moment: lies in it)."""
    return piece.start < end and (piece.end > start or piece.start >= start)


def _within(piece: rules.Evidence, start: float, end: float) -> rules.Evidence:
    """The piece cut to the stretch: what reaches past its end is the next stretch's (analysed again
    there with its context), and what lies before its start was the last one's. So a stretch of speech
    across the boundary is kept in two parts that meet, never lost or kept twice."""
    low, high = max(piece.start, start), min(piece.end, end)
    if (low, high) == (piece.start, piece.end) or high < low:
        return piece
    moment = None if piece.moment is None else min(max(piece.moment, low), high)
    return replace(piece, start=low, end=high, moment=moment)


def analysis_ahead(*, session_id: Any) -> int:
    """While the exam is under way, analyse each webcam part's newly arrived stretch. Returns how
    many stretches were analysed. Safe to run any time: a part with too little new is left alone."""
    session = ExamSession.objects.select_related("exam").filter(pk=session_id).first()
    if session is None or session.status not in ANALYSABLE_AHEAD:
        return 0
    _, exemptions = _settings_for(session)
    detectors = _webcam_detectors(session, exemptions)
    if not detectors.any:
        return 0
    template: Any = None
    template_read = False
    made = 0
    for recording in Recording.objects.filter(session=session, kind=StreamKind.WEBCAM).select_related("data_key"):
        final = recording.status == RecordingStatus.FINALISED
        previous = _last_stretch(recording, detectors.key())
        if not _stretch_due(previous, recording.chunks.count(), final=final):
            continue  # checked before the template is read, so an idle nudge reads (and audits) nothing
        if not template_read:
            template, template_read = _template_for(session, detectors), True
        try:
            made += (
                analysis_stretch(recording=recording, template=template, detectors=detectors, final=final) is not None
            )
        except (MediaError, DecryptionError) as exc:
            # The final analysis meets the same trouble and says so; ahead of it there is nothing to tell.
            logger.warning("Could not analyse ahead part %s of session %s: %s", recording.part, session.pk, exc)
    return made


def _webcam_evidence(
    recording: Recording,
    *,
    offset: float,
    template: Any,
    detectors: WebcamDetectors,
    progress: Callable[[int], None],
    statistics: dict[str, Any],
) -> list[rules.Evidence]:
    """One webcam part's evidence, moved from media to session time: the stretches analysed while the
    exam was under way, and the rest analysed now."""
    try:
        analysis_stretch(recording=recording, template=template, detectors=detectors, final=True, progress=progress)
    except MediaError as exc:
        raise AnalysisFailed(f"The webcam recording (part {recording.part + 1}) could not be analysed: {exc}") from exc
    except DecryptionError as exc:
        raise AnalysisFailed(
            f"The webcam recording (part {recording.part + 1}) could not be decrypted: a stored chunk is damaged."
        ) from exc
    evidence: list[rules.Evidence] = []
    stretches = AnalysisSegment.objects.filter(recording=recording, detectors=detectors.key()).order_by("from_seconds")
    for stretch in stretches:
        for key, value in stretch.statistics.items():
            _count(statistics, key, value)
        evidence += [rules.evidence_from_dict(data) for data in stretch.evidence]
    _count(statistics, "stretches", len(stretches))
    return [
        replace(e, start=e.start + offset, end=e.end + offset, moment=None if e.moment is None else e.moment + offset)
        for e in evidence
    ]


def _count(statistics: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        statistics[key] = round(statistics.get(key, 0) + value, 1)
    else:
        statistics[key] = value


def _thumbnails_for(
    events: list[rules.Event], webcams: list[Recording], screens: list[Recording], offsets: dict[Any, float]
) -> dict[int, tuple[Recording, float, bytes]]:
    """One sealed picture per flag: the webcam as it was at the flag's moment, or for browser signals
    the screen as it was then. Only those frames are decoded."""
    chosen: dict[int, tuple[Recording, float, bytes]] = {}
    wanted: dict[Any, list[tuple[int, float]]] = {}
    parts = {r.pk: r for r in (*webcams, *screens)}
    for index, event in enumerate(events):
        moment = event.moment if event.moment is not None else event.start
        source = screens if rules.RULES[event.kind].detector == "browser-signals" else webcams
        part = max((r for r in source if offsets[r.pk] <= moment), key=lambda r: offsets[r.pk], default=None)
        if part is not None:
            wanted.setdefault(part.pk, []).append((index, moment))
    for pk, moments in wanted.items():
        part, offset = parts[pk], offsets[pk]
        # The screen changes seldom: its keyframe is enough. The webcam is shown as it was.
        try:
            pictures = dict(
                media.frames_at(
                    recording_plaintext(part),
                    [moment - offset for _, moment in moments],
                    keyframes_only=part.kind == StreamKind.SCREEN,
                )
            )
        except DecryptionError:
            continue  # a picture is a convenience: the flags stand without it
        for index, moment in moments:
            image = pictures.get(moment - offset)
            if image is not None:
                jpeg = vision.thumbnail_jpeg(image)
                chosen[index] = (part, moment, recording_seal_thumbnail(recording=part, moment=moment, jpeg=jpeg))
    return chosen


def analysis_run(*, session_id: Any, stale_after: timedelta = STALE_AFTER) -> dict[str, Any]:
    """The whole job for one session: start, perform, complete or fail. Idempotent."""
    run = analysis_run_start(session_id=session_id, stale_after=stale_after)
    if run is None:
        status = ExamSession.objects.filter(pk=session_id).values_list("status", flat=True).first()
        return {"session": str(session_id), "outcome": "nothing to do", "status": status}
    cpu = time.process_time()
    try:
        outcome = analysis_perform(run=run)
    except AnalysisSuperseded:
        return {"session": str(session_id), "outcome": "superseded", "run": run.pk}
    except (AnalysisFailed, SoftTimeLimitExceeded) as exc:
        reason = str(exc) if isinstance(exc, AnalysisFailed) else "The analysis took longer than its time limit."
        analysis_run_fail(run_id=run.pk, reason=reason)
        return {"session": str(session_id), "outcome": "failed", "reason": reason, "run": run.pk}
    except BaseException:
        # An unexpected error (the task retries) or the time limit: free the session for the next run.
        AnalysisRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.ABANDONED, finished_at=timezone.now(), failure_reason="Stopped by an error; retried."
        )
        raise
    completed = analysis_run_complete(run_id=run.pk, outcome=outcome, cpu_seconds=time.process_time() - cpu)
    return {
        "session": str(session_id),
        "outcome": "ready for review" if completed else "superseded",
        "run": run.pk,
        "flags": len(outcome.events),
        "score": outcome.score.value,
    }


def analysis_requeue_stalled(*, stale_after: timedelta = STALE_AFTER) -> int:
    """Queue again the sessions whose analysis stopped (a killed worker) or whose queue message was
    lost: those analysing without a live run, and those whose recordings are all final but whose
    analysis never began. Safe to run any time: the task itself decides whether there is work."""
    cutoff = timezone.now() - stale_after
    live = AnalysisRun.objects.filter(session=OuterRef("pk"), status=RunStatus.RUNNING, heartbeat_at__gte=cutoff)
    analysing = ExamSession.objects.filter(status=SessionStatus.ANALYSING, status_changed_at__lt=cutoff).exclude(
        Exists(live)
    )
    waiting = ExamSession.objects.filter(status__in=ATTEMPT_ENDED, ended_at__lt=cutoff).exclude(
        recordings__status=RecordingStatus.RECORDING
    )
    ids = {*analysing.values_list("pk", flat=True), *waiting.values_list("pk", flat=True)}
    for session_id in ids:
        current_app.send_task(ANALYSIS_TASK, args=[str(session_id)])
    if ids:
        logger.info("Queued the analysis of %d session(s) again.", len(ids))
    return len(ids)
