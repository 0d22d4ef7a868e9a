"""Accuracy, fairness and cost of the analysis pipeline, on the scenario set and on a long recording.

Prints:

1. The scenario set (tests/scenario_set.py), each half on its own: per condition, the events of 3 s or
   more and how many were found, the concern flags that match no event (false flags) and the technical
   flags; then per half, recall per flag type, false flags per clean hour, and the trap conditions that
   raised any concern flag. Thresholds are set on the development half; the held-back half is the test.
2. Keyframe spacing: the same conditions recorded with keyframes every 1, 5 and 10 s, how far apart
   their flags are, and the longest stretch no sampled frame stands for.
3. Fairness: per person and per lighting condition, the share of sampled frames in which a face was
   found while the student was in view, and the median distance to her template.
4. Cost, on a long recording (60 minutes by default) with keyframes every 1 s and every 10 s: CPU-seconds
   per recorded hour, against decoding every frame of the same file and against a naive peer
   (face_recognition detection and encoding once a second, every frame decoded, webrtcvad on all the
   audio), with the peak memory.

The naive peer's per-second face work is timed on ``--naive-seconds`` seconds spread over the recording
and multiplied out (running it on every second of an hour takes about a quarter of an hour); its
decoding of every frame and its voice activity are run in full.

Run: .venv/bin/python bench/analysis.py [--minutes 60] [--half dev|held-back|both] [--jobs 2]
The first run encodes the recordings (about 20 CPU-minutes for the set, more for the long ones) and
caches them in .cache/scenarios/.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Run as a script from anywhere: the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As in the worker (proctor/__init__.py): one BLAS thread, set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import av  # noqa: E402
import numpy as np  # noqa: E402

from analysis import rules  # noqa: E402
from analysis.pipeline import WebcamResult, analyse_webcam  # noqa: E402
from proctor import crypto  # noqa: E402
from review.demo.media import chunked  # noqa: E402
from tests import scenario_set, scenarios  # noqa: E402

#: A flag finds an event when its start and its end are this close to the truth, in seconds.
TOLERANCE = 3.0
#: Recall is judged on events at least this long (the target).
MIN_EVENT_SECONDS = 3.0
STANDARD = rules.THRESHOLDS["standard"]
CONCERNS = {kind.value for kind, rule in rules.RULES.items() if rule.category == rules.Category.CONCERN}
#: Lighting conditions of the fairness table, by the conditions that show them.
LIGHTING = {"clean": "normal", "dim": "dim", "backlight": "backlight", "blurred": "blurred", "far": "far"}


def sealed_chunks(data: bytes, seconds: float) -> tuple[bytes, list[bytes]]:
    """The recording as stored: cut in ~3-second chunks, each sealed under one data key."""
    key = crypto.new_data_key()
    return key, [
        crypto.seal(key, label=f"bench:{i}".encode(), plaintext=piece) for i, piece in enumerate(chunked(data, seconds))
    ]


def opened(key: bytes, chunks: list[bytes]) -> Iterator[bytes]:
    for index, sealed in enumerate(chunks):
        yield crypto.open_sealed(key, label=f"bench:{index}".encode(), ciphertext=sealed)


def analyse(item: scenarios.Scenario, data: bytes, template: np.ndarray) -> tuple[WebcamResult, float]:
    key, chunks = sealed_chunks(data, item.seconds)
    start = time.process_time()
    result = analyse_webcam(opened(key, chunks), template=template, faces=True, voice=True)
    return result, time.process_time() - start


def _encode(item: scenarios.Scenario) -> str:
    scenarios.recording(item)
    return item.name


def prepare(items: list[scenarios.Scenario], jobs: int) -> None:
    missing = [item for item in items if not (scenarios.CACHE / f"{item.name}-{item.key()}.webm").exists()]
    if not missing:
        return
    print(f"Encoding {len(missing)} recordings into {scenarios.CACHE} ({jobs} at a time) ...", flush=True)
    with ProcessPoolExecutor(jobs) as pool:
        for done, name in enumerate(pool.map(_encode, missing), start=1):
            print(f"  {done}/{len(missing)} {name}", flush=True)


# --- Scoring --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    events: int = 0
    found: int = 0
    false: int = 0
    technical: int = 0
    hours: float = 0.0
    clean_hours: float = 0.0
    cpu: float = 0.0


def matches(event: rules.Event, truth: scenarios.Truth) -> bool:
    return (
        event.kind.value == truth.kind
        and abs(event.start - truth.start) <= TOLERANCE
        and abs(event.end - truth.end) <= TOLERANCE
    )


def overlaps(event: rules.Event, truth: scenarios.Truth) -> bool:
    return event.kind.value == truth.kind and event.start < truth.end and truth.start < event.end


def student_photo(item: scenarios.Scenario) -> str:
    """The photo the webcam shows of the scenario's student."""
    return next((s.webcam for h in scenario_set.HALVES for s in h.students if s.enrol == item.enrol_photo), "")


def expected_presence(item: scenarios.Scenario, truth: scenarios.Truth) -> bool | None:
    """Whether the student is among the faces of a several-faces event, from the scenario's shots."""
    middle = (truth.start + truth.end) / 2
    shot = next((s for s in item.shots if s.start <= middle < s.end), None)
    if shot is None or truth.kind != "multiple_faces":
        return None
    return student_photo(item) in [person.photo for person in scenarios.placed(shot.people)]


def score(item: scenarios.Scenario, events: list[rules.Event], tally: Tally) -> list[str]:
    """Count the item's events found, and its false and technical flags; say what went wrong."""
    problems = []
    concerns = [e for e in events if e.kind.value in CONCERNS]
    tally.technical += len(events) - len(concerns)
    for truth in item.truth:
        if truth.kind not in CONCERNS:
            if not any(overlaps(e, truth) for e in events):
                problems.append(f"missed technical {truth.kind} {truth.start:.0f}-{truth.end:.0f}")
            continue
        if truth.end - truth.start < MIN_EVENT_SECONDS:
            continue
        tally.events += 1
        hit = next((e for e in concerns if matches(e, truth)), None)
        if hit is None:
            problems.append(f"missed {truth.kind} {truth.start:.0f}-{truth.end:.0f}")
            continue
        tally.found += 1
        presence = expected_presence(item, truth)
        if presence is not None and hit.detail.get("student_present") != presence:
            problems.append(f"{truth.kind} said student_present={hit.detail.get('student_present')}")
    for event in concerns:
        if not any(overlaps(event, truth) for truth in item.truth):
            tally.false += 1
            problems.append(f"false {event.kind.value} {event.start:.0f}-{event.end:.0f} ({event.confidence})")
    hours = item.seconds / 3600
    tally.hours += hours
    tally.clean_hours += hours - sum(t.end - t.start for t in item.truth if t.kind in CONCERNS) / 3600
    return problems


def scenario_report(
    half: scenario_set.Half, items: list[scenarios.Scenario], runs: dict[str, tuple[WebcamResult, float]]
) -> None:
    print(f"\n== The {half.name} half: {len(items)} recordings, people: {', '.join(s.name for s in half.students)}")
    header = f"{'condition':<34}{'rec':>4}{'events':>7}{'found':>6}{'false':>6}{'tech':>5}{'CPU s/h':>8}  problems"
    print(header + "\n" + "-" * len(header))
    by_condition: dict[str, list[scenarios.Scenario]] = defaultdict(list)
    for item in items:
        by_condition[item.condition].append(item)
    per_kind: dict[str, Tally] = defaultdict(Tally)
    whole = Tally()
    trap_failures = []
    for condition, members in by_condition.items():
        tally = Tally()
        problems = []
        for item in members:
            result, cpu = runs[item.name]
            events = rules.events_from(result.evidence, STANDARD, rules.Exemptions())
            tally.cpu += cpu
            found = score(item, events, tally)
            problems += [f"{item.person.split()[-1]}: {p}" for p in found]
            for truth in item.truth:
                if truth.kind in CONCERNS and truth.end - truth.start >= MIN_EVENT_SECONDS:
                    kind = per_kind[truth.kind]
                    kind.events += 1
                    kind.found += any(matches(e, truth) for e in events)
            for event in events:
                if event.kind.value in CONCERNS and not any(overlaps(event, t) for t in item.truth):
                    per_kind[event.kind.value].false += 1
            if item.trap and any(
                e.kind.value in CONCERNS and not any(overlaps(e, t) for t in item.truth) for e in events
            ):
                trap_failures.append(item.name)
        for name in ("events", "found", "false", "technical", "hours", "clean_hours", "cpu"):
            setattr(whole, name, getattr(whole, name) + getattr(tally, name))
        print(
            f"{condition:<34}{len(members):>4}{tally.events:>7}{tally.found:>6}{tally.false:>6}{tally.technical:>5}"
            f"{tally.cpu / tally.hours:>8.0f}  {'; '.join(problems) if problems else 'ok'}"
        )
    print("-" * len(header))
    recall = whole.found / whole.events if whole.events else float("nan")
    print(
        f"{half.name}: recall {recall:.3f} on {whole.events} events of {MIN_EVENT_SECONDS:g} s or more; "
        f"{whole.false} false flags in {whole.clean_hours:.2f} clean hours = "
        f"{whole.false / whole.clean_hours:.2f} per clean hour; "
        f"trap recordings with a concern flag: {len(trap_failures)} of "
        f"{sum(1 for i in items if i.trap)}{' (' + ', '.join(trap_failures) + ')' if trap_failures else ''}"
    )
    print(f"{'  per type':<20}{'events':>7}{'recall':>8}{'false':>7}")
    for kind in sorted(per_kind):
        tally = per_kind[kind]
        kind_recall = f"{tally.found / tally.events:.2f}" if tally.events else "-"
        print(f"  {kind:<18}{tally.events:>7}{kind_recall:>8}{tally.false:>7}")
    print("  targets (held-back half): recall >= 0.95, <= 0.5 false flags per clean hour, no concern flag in any trap")


def keyframe_report(items: list[scenarios.Scenario], runs: dict[str, tuple[WebcamResult, float]]) -> None:
    print("\n== Keyframe spacing: flags with keyframes every 1, 5 and 10 s (standard sensitivity)")
    header = f"{'recording':<36}{'key s':>6}{'flags':>6}{'max shift s':>12}{'longest unsampled s':>21}{'CPU s/h':>9}"
    print(header + "\n" + "-" * len(header))
    for reference in (item for item in items if item.keyframe_seconds == 1):
        ref_events = rules.events_from(runs[reference.name][0].evidence, STANDARD, rules.Exemptions())
        variants = [i for i in items if i.name.startswith(reference.name + "-key")]
        for variant in (reference, *variants):
            result, cpu = runs[variant.name]
            events = rules.events_from(result.evidence, STANDARD, rules.Exemptions())
            longest = _longest_unsampled(result.face_samples, variant.seconds)
            print(
                f"{variant.name:<36}{variant.keyframe_seconds:>6g}{len(events):>6}{_shift(events, ref_events):>12}"
                f"{longest:>21.1f}{cpu / (variant.seconds / 3600):>9.0f}"
            )


def _shift(events: list[rules.Event], reference: list[rules.Event]) -> str:
    if len(events) != len(reference) or any(a.kind != b.kind for a, b in zip(events, reference, strict=False)):
        return "differ"
    pairs = zip(events, reference, strict=True)
    return f"{max((max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in pairs), default=0.0):.1f}"


def _longest_unsampled(samples: Iterable[object], seconds: float) -> float:
    """The longest stretch of the recording that no sampled frame stands for: between the start of the
    recording, the sampled frames' times and the end."""
    times = [0.0, *sorted(sample.start for sample in samples), seconds]  # type: ignore[attr-defined]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def fairness_report(items: list[scenarios.Scenario], runs: dict[str, tuple[WebcamResult, float]]) -> None:
    print("\n== Fairness: faces found while the student is in view, and her distance from her template")
    rows: dict[tuple[str, str], list[tuple[int, int, list[float]]]] = defaultdict(list)
    for item in items:
        light = LIGHTING.get(item.condition)
        if light is None:
            continue
        result, _ = runs[item.name]
        webcam = student_photo(item)
        present = found = 0
        distances: list[float] = []
        for sample in result.face_samples:
            middle = (sample.start + sample.end) / 2
            shot = next((s for s in item.shots if s.start <= middle < s.end), None)
            if shot is None or webcam not in [p.photo for p in scenarios.placed(shot.people)]:
                continue
            present += 1
            found += sample.faces > 0
            if sample.distance is not None:
                distances.append(sample.distance)
        rows[(item.person, light)].append((present, found, distances))
    lights = ["normal", "dim", "backlight", "blurred", "far"]
    header = f"{'person':<16}" + "".join(f"{light:>22}" for light in lights)
    print(header + "\n" + "-" * len(header))
    people = sorted({person for person, _ in rows})
    well_lit = []
    for person in people:
        cells = []
        for light in lights:
            entries = rows.get((person, light), [])
            present = sum(e[0] for e in entries)
            found = sum(e[1] for e in entries)
            distances = [d for e in entries for d in e[2]]
            if not present:
                cells.append(f"{'-':>22}")
                continue
            rate = 100 * found / present
            if light == "normal":
                well_lit.append(rate)
            median = f"{statistics.median(distances):.2f}" if distances else "-"
            cells.append(f"{rate:>12.1f}% d={median:>5}")
        print(f"{person:<16}" + "".join(cells))
    if well_lit:
        print(
            f"Found rate on well-lit frames: spread {max(well_lit) - min(well_lit):.1f} points across people "
            "(target: within 2)"
        )


# --- Cost -----------------------------------------------------------------------------------------------


def decode_every_frame(data: bytes) -> tuple[float, int]:
    start = time.process_time()
    frames = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        for _ in container.decode(stream):
            frames += 1
    return time.process_time() - start, frames


def naive_peer(data: bytes, seconds: float, sample: int) -> tuple[float, str]:
    """The naive peer's CPU for the whole file: every frame decoded (in full), face_recognition's
    detection and encoding on one frame a second (timed on ``sample`` seconds, multiplied out), webrtcvad
    on every 30 ms of the audio (in full)."""
    import face_recognition
    import webrtcvad

    decode, _ = decode_every_frame(data)
    wanted = set(np.linspace(0, seconds - 1, min(sample, int(seconds))).astype(int).tolist())
    images = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            second = int(float(frame.pts * frame.time_base))
            if second in wanted:
                wanted.discard(second)
                images.append(frame.to_ndarray(format="rgb24"))
    start = time.process_time()
    for image in images:
        boxes = face_recognition.face_locations(image)
        face_recognition.face_encodings(image, known_face_locations=boxes)
    faces = (time.process_time() - start) / len(images) * seconds
    start = time.process_time()
    vad = webrtcvad.Vad(2)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
    buffer = b""
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            for mono in resampler.resample(frame):
                buffer += mono.to_ndarray().tobytes()
                while len(buffer) >= 960:
                    vad.is_speech(buffer[:960], 16_000)
                    buffer = buffer[960:]
    voice = time.process_time() - start
    return (
        decode + faces + voice,
        f"decode {decode:.0f} s + faces {faces:.0f} s ({len(images)} s timed) + voice {voice:.0f} s",
    )


def cost_report(minutes: int, naive_seconds: int, jobs: int) -> None:
    print(f"\n== Cost on a {minutes}-minute recording (one process, one thread)")
    long_items = [scenarios.long_recording(minutes, keyframe_seconds=k) for k in (1.0, 10.0)]
    prepare(long_items, jobs)
    template = scenarios.enrolled_template()
    header = (
        f"{'keyframes':>10}{'CPU s':>8}{'CPU s/h':>9}{'decode-all s/h':>15}{'ratio':>7}{'naive s/h':>10}"
        f"{'naive/ours':>11}{'flags':>6}  target"
    )
    print(header + "\n" + "-" * len(header))
    notes = []
    for item, target in zip(long_items, (30, 80), strict=True):
        data = scenarios.recording(item)
        result, cpu = analyse(item, data, template)
        hours = item.seconds / 3600
        decode_all, _ = decode_every_frame(data)
        naive, how = naive_peer(data, item.seconds, naive_seconds)
        events = rules.events_from(result.evidence, STANDARD, rules.Exemptions())
        print(
            f"{item.keyframe_seconds:>9g}s{cpu:>8.1f}{cpu / hours:>9.1f}{decode_all / hours:>15.1f}"
            f"{cpu / decode_all:>7.2f}{naive / hours:>10.0f}{naive / cpu:>10.0f}x{len(events):>6}  "
            f"<= {target} CPU s/h: {'met' if cpu / hours <= target else 'NOT MET'}"
        )
        notes.append(f"keyframes {item.keyframe_seconds:g} s: naive peer = {how}; ours: {result.statistics}")
    for note in notes:
        print("  " + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60, help="length of the long recording (0: none)")
    parser.add_argument("--naive-seconds", type=int, default=240, help="seconds the naive peer's face work is timed on")
    parser.add_argument("--half", choices=("dev", "held-back", "both", "none"), default="both")
    parser.add_argument("--only", default="", help="only conditions whose name contains this")
    parser.add_argument("--jobs", type=int, default=2, help="recordings encoded at once on the first run")
    args = parser.parse_args()

    halves = [h for h in scenario_set.HALVES if args.half in (h.name, "both")]
    for half in halves:
        items = [i for i in scenario_set.scenarios(half) if args.only in i.condition]
        prepare(items, args.jobs)
        templates = {photo: scenarios.enrolled_template(photo) for photo in {i.enrol_photo for i in items}}
        runs = {item.name: analyse(item, scenarios.recording(item), templates[item.enrol_photo]) for item in items}
        scenario_report(half, items, runs)
        keyframe_report([i for i in items if i.condition.split(" (")[0] in scenario_set.KEYFRAME_CONDITIONS], runs)
        fairness_report(items, runs)
    if args.minutes:
        cost_report(args.minutes, args.naive_seconds, args.jobs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
