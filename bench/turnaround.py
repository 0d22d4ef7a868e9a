"""How soon after submit the flags of a long exam are ready: the time from the last chunk's
acknowledgement to "ready for review", with the webcam analysed a stretch at a time while the exam
goes on (as the analysis queue's worker does), against analysing it all at the end.

Runs the real services on a throwaway SQLite database and media folder: chunks sealed and stored one by
one, the analysis ahead run whenever a chunk asks for it (a worker keeping up), then submit, finalise and
the analysis. Prints the wall-clock time from the last chunk stored to the session being ready for
review, the CPU the stretches took during the exam, and the same exam analysed only at the end.

Run: .venv/bin/python bench/turnaround.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As in the worker (proctor/__init__.py): one BLAS thread, set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["INVIGIL_DATA_DIR"] = tempfile.mkdtemp(prefix="invigil-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
ANALYSE_AHEAD_EVERY = 20
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import django  # noqa: E402

django.setup()

import time_machine  # noqa: E402
from django.core.management import call_command  # noqa: E402

from analysis.models import AnalysisSegment  # noqa: E402
from analysis.services import analysis_ahead, analysis_run  # noqa: E402
from exams.models import Role, SessionStatus  # noqa: E402
from exams.services import session_transition  # noqa: E402
from identity.services import identity_enrol  # noqa: E402
from recordings.models import Recording  # noqa: E402
from recordings.services import recording_append_chunk, recording_finalise, recording_start  # noqa: E402
from review.demo.media import CHUNK_SECONDS, chunked  # noqa: E402
from tests import scenarios  # noqa: E402
from tests.analysis.conftest import jpeg  # noqa: E402
from tests.conftest import agree_to_face_matching  # noqa: E402
from tests.factories import ConsentPolicyFactory, CourseFactory, ExamFactory, ExamSessionFactory, UserFactory, enrol  # noqa: E402


def exam_session(tag: str):  # type: ignore[no-untyped-def]
    course = CourseFactory(code=f"BENCH{tag}")
    student = UserFactory(username=f"student{tag}")
    enrol(student, course, Role.STUDENT)
    ConsentPolicyFactory(institution=course.institution, version=1)
    exam = ExamFactory(course=course, title="Long exam", record_screen=False, duration_minutes=240)
    agree_to_face_matching(student)
    identity_enrol(user=student, frames=[jpeg(scenarios.ENROL_PHOTO)] * 3)
    session = ExamSessionFactory(exam=exam, student=student)
    for status in (SessionStatus.CONSENTED, SessionStatus.READY, SessionStatus.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="bench")
    session.refresh_from_db()
    return session


def take(session, pieces: list[bytes], *, ahead: bool) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Store the chunks one by one (running the analysis ahead when a chunk asks for it); return the
    wall-clock moment the last one was stored and the CPU the analysis ahead took."""
    began = session.started_at
    recording = recording_start(session=session, kind="webcam", mime_type="video/webm", actor=None)
    ahead_cpu = 0.0
    for seq, piece in enumerate(pieces):
        at = began + timedelta(seconds=seq * CHUNK_SECONDS)
        recording_append_chunk(recording=recording, seq=seq, data=piece, client_time=at)
        if ahead and seq % ANALYSE_AHEAD_EVERY == ANALYSE_AHEAD_EVERY - 1:
            cpu = time.process_time()
            with time_machine.travel(at, tick=False):
                analysis_ahead(session_id=session.pk)
            ahead_cpu += time.process_time() - cpu
    return time.perf_counter(), ahead_cpu


def submit_and_analyse(session, seconds: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    cpu = time.process_time()
    with time_machine.travel(session.started_at + timedelta(seconds=seconds), tick=False):
        session_transition(session_id=session.pk, to_status=SessionStatus.SUBMITTED, actor=None, reason="bench")
    for recording in Recording.objects.filter(session=session):
        recording_finalise(recording_id=recording.pk, actor=None)
    result = analysis_run(session_id=session.pk)
    assert result["outcome"] == "ready for review", result
    return time.perf_counter(), time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    item = scenarios.long_recording(args.minutes)
    print(f"Preparing a {args.minutes}-minute webcam recording (cached in {scenarios.CACHE}) ...", flush=True)
    pieces = chunked(scenarios.recording(item), item.seconds)
    print(f"{len(pieces)} chunks of about {CHUNK_SECONDS:g} s; analysis ahead every {ANALYSE_AHEAD_EVERY} chunks\n")
    header = (
        f"{'analysis':<34}{'during exam CPU s':>18}{'submit to ready s':>19}{'final run CPU s':>17}{'stretches':>10}"
    )
    print(header + "\n" + "-" * len(header))
    rows = {}
    notes: list[str] = []
    for label, ahead in (("a stretch at a time, during the exam", True), ("all at the end (baseline)", False)):
        session = exam_session("A" if ahead else "B")
        last_ack, ahead_cpu = take(session, pieces, ahead=ahead)
        ready, final_cpu = submit_and_analyse(session, item.seconds)
        stretches = AnalysisSegment.objects.filter(recording__session=session).count()
        rows[ahead] = ready - last_ack
        print(f"{label:<34}{ahead_cpu:>18.1f}{ready - last_ack:>19.1f}{final_cpu:>17.1f}{stretches:>10}", flush=True)
        run = session.analysis_runs.get(status="succeeded")
        flags = list(session.flags.order_by("start_seconds").values_list("kind", "start_seconds", "end_seconds"))
        notes.append(f"{label}: {len(flags)} flags {flags}; {run.statistics}")
    for note in notes:
        print("  " + note)
    print(
        f"\nFrom the last chunk's acknowledgement to ready for review: {rows[True]:.1f} s "
        f"({rows[False] / rows[True]:.0f}x sooner than analysing at the end; target: within 120 s for a 2-hour exam)"
    )


if __name__ == "__main__":
    main()
