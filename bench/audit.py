"""Breach questions on a big audit log: "who read this student's data?" and "what was touched in
this window?", on a million entries, against a full scan of the log measured in the same run.

Builds a hash-chained log of --rows entries (default 1,000,000) over a year: sign-ins, page views,
playbacks, picture views, exports and refusals by 300 staff about 5,000 students, most entries
naming one student, some (course exports) many. Then times, each as the median of --repeat runs:

- the access report for one student (manage.py audit_access --person, CSV written out);
- the report for a one-day window;
- a full scan that reads every entry and keeps those about the student: what answering the
  question costs without the people index (the baseline);
- verifying the whole chain (the daily job).

Run: .venv/bin/python bench/audit.py [--rows 1000000] [--repeat 3]
Uses the test settings and an embedded database made for the run; set BENCH_DATABASE_URL to a
PostgreSQL URL to run it there instead.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
if os.environ.get("BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
else:
    os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

STUDENTS = 5000
STAFF = 300
ACTIONS = [
    ("auth.login", 0.20),
    ("review.session_view", 0.20),
    ("recording.play", 0.30),
    ("flag.thumbnail_view", 0.15),
    ("privacy.export", 0.02),
    ("review.export", 0.01),
    ("access.refused", 0.02),
    ("session.transition", 0.10),
]


def build(rows: int, seed: int = 7) -> tuple[int, datetime]:
    """Write ``rows`` chained entries and their people; return a student with entries, and a day."""
    from proctor.audit import GENESIS_HASH, event_hash
    from proctor.models import AuditEvent, AuditHead, AuditSubject, Outcome

    rng = random.Random(seed)
    names, weights = zip(*ACTIONS, strict=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / rows
    prev = GENESIS_HASH
    batch_events: list[AuditEvent] = []
    batch_people: list[AuditSubject] = []
    first_student = 1_000_000

    def flush() -> None:
        with transaction.atomic():
            AuditEvent.objects.bulk_create(batch_events, batch_size=5000)
            AuditSubject.objects.bulk_create(batch_people, batch_size=5000)
        batch_events.clear()
        batch_people.clear()

    for seq in range(1, rows + 1):
        action = rng.choices(names, weights)[0]
        actor = rng.randrange(1, STAFF + 1)
        if action == "review.export":
            people = rng.sample(range(first_student, first_student + STUDENTS), 60)
        elif action == "auth.login":
            people = [actor]
        else:
            people = [first_student + rng.randrange(STUDENTS)]
        at = start + step * seq
        role = rng.choice(["instructor", "reviewer", "admin"])
        purpose = f"flag #{rng.randrange(100_000)}" if action in ("recording.play", "flag.thumbnail_view") else ""
        outcome = Outcome.REFUSED if action == "access.refused" else Outcome.DONE
        fields = {
            "seq": seq,
            "at": at,
            "actor_id": actor,
            "actor_label": f"staff{actor}",
            "action": action,
            "target_type": "exams.examsession",
            "target_id": f"{rng.getrandbits(128):032x}",
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "detail": {"n": seq % 97},
            "prev_hash": prev,
        }
        digest = event_hash(**fields, role=role, purpose=purpose, outcome=outcome, subjects=people)
        batch_events.append(AuditEvent(**fields, role=role, purpose=purpose, outcome=outcome, hash=digest))
        batch_people.extend(AuditSubject(seq=seq, subject_id=person) for person in sorted(set(people)))
        prev = digest
        if len(batch_events) >= 20_000:
            flush()
    flush()
    AuditHead.objects.update_or_create(id=1, defaults={"seq": rows, "hash": prev})
    return first_student + 42, start + timedelta(days=180)


def timed(work: object, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit entries to build (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each question; the median is printed")
    args = parser.parse_args()

    connection.creation.create_test_db(verbosity=0)
    from django.contrib.auth import get_user_model

    from proctor.audit import AccessQuery, audit_accesses, audit_verify
    from proctor.models import AuditEvent, AuditSubject
    from tests.proctor.tamper import audit_triggers_drop, audit_triggers_ensure

    audit_triggers_ensure()
    began = time.perf_counter()
    student_id, day = build(args.rows)
    built = time.perf_counter() - began
    people = AuditSubject.objects.count()
    print(f"vendor {connection.vendor}: built {args.rows:,} entries naming {people:,} people in {built:.1f} s")

    # The command looks the person up by username or id: give the student an account with that id.
    get_user_model().objects.create(pk=student_id, username="bench-student")

    def report() -> int:
        out = io.StringIO()
        call_command("audit_access", "--person", "bench-student", stdout=out, stderr=io.StringIO())
        return out.getvalue().count("\n") - 1

    def window() -> int:
        return sum(1 for _ in audit_accesses(AccessQuery(since=day, until=day + timedelta(days=1))).iterator(5000))

    def full_scan() -> int:
        """Without the index: read every entry and its people, keep those naming the student."""
        found = 0
        last = 0
        while True:
            batch = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq").values_list("seq", flat=True)[:20000])
            if not batch:
                return found
            named = set(
                AuditSubject.objects.filter(seq__gte=batch[0], seq__lte=batch[-1]).values_list("seq", "subject_id")
            )
            found += sum(1 for seq in batch if (seq, student_id) in named)
            last = batch[-1]

    report_s, report_rows = timed(report, args.repeat)
    window_s, window_rows = timed(window, args.repeat)
    scan_s, scan_rows = timed(full_scan, 1)
    verify_s, verified = timed(audit_verify, 1)
    print(f"report for one student:  {report_s * 1000:9.1f} ms  ({report_rows} entries; the inquiry's own included)")
    print(f"report for one day:      {window_s * 1000:9.1f} ms  ({window_rows} entries)")
    print(f"full scan (baseline):    {scan_s * 1000:9.1f} ms  ({scan_rows} entries about the student)")
    print(f"report / full scan:      {report_s / scan_s:9.4f}  (the index makes it {scan_s / report_s:.0f}x faster)")
    print(f"verify the whole chain:  {verify_s:9.1f} s   ({verified.checked:,} entries, ok={verified.ok})")  # type: ignore[attr-defined]
    print(f"under 60 s on {args.rows:,} rows: {'yes' if max(report_s, window_s) < 60 else 'NO'}")
    audit_triggers_drop()
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
