"""Cost and accuracy of the analysis pipeline, on the scenario set and on a long recording.

Prints, per recording and in total: CPU-seconds of analysis per recorded hour (decryption included);
the ratio to merely decoding every video frame of the same file; the speed-up over a naive baseline
that runs face_recognition detection and encoding on every frame; and precision and recall per flag
type, with false flags per clean hour.

The naive baseline's per-frame cost is measured on a sample of frames spread over the recording and
multiplied by the frame count (running it on every frame of an hour would take over an hour); the
decoding of every frame it also needs is measured in full.

Run: .venv/bin/python bench/analysis.py [--minutes 60] [--naive-sample 150]
The first run encodes the recordings (several minutes for the long one) and caches them in .cache/.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

# Run as a script from anywhere: the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import av  # noqa: E402
import numpy as np  # noqa: E402

from analysis import rules  # noqa: E402
from analysis.pipeline import analyse_webcam  # noqa: E402
from proctor import crypto  # noqa: E402
from review.demo.media import chunked  # noqa: E402
from tests import scenarios  # noqa: E402

#: A flag matches an event when its start and its end are this close to the truth, in seconds.
TOLERANCE = 3.0
#: Recall is judged on events at least this long (the issue's target).
MIN_EVENT_SECONDS = 5.0
THRESHOLDS = rules.THRESHOLDS["standard"]


def sealed_chunks(data: bytes, seconds: float) -> tuple[bytes, list[bytes]]:
    """The recording as stored: cut in ~3-second chunks, each sealed under one data key."""
    key = crypto.new_data_key()
    return key, [
        crypto.seal(key, label=f"bench:{i}".encode(), plaintext=piece) for i, piece in enumerate(chunked(data, seconds))
    ]


def opened(key: bytes, chunks: list[bytes]) -> Iterator[bytes]:
    for index, sealed in enumerate(chunks):
        yield crypto.open_sealed(key, label=f"bench:{index}".encode(), ciphertext=sealed)


def decode_every_frame(data: bytes) -> tuple[float, int]:
    start = time.process_time()
    frames = 0
    with av.open(io.BytesIO(data)) as container:
        for _ in container.decode(video=0):
            frames += 1
    return time.process_time() - start, frames


def naive_per_frame(data: bytes, frames: int, sample: int) -> float:
    """CPU-seconds per frame of face_recognition detection (HOG, no upsampling) plus encoding, timed
    on ``sample`` frames spread evenly over the recording."""
    import face_recognition

    wanted = set(np.linspace(0, frames - 1, min(sample, frames)).astype(int).tolist())
    with av.open(io.BytesIO(data)) as container:
        images = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in wanted]
    start = time.process_time()
    for image in images:
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=0)
        face_recognition.face_encodings(image, known_face_locations=boxes)
    return (time.process_time() - start) / len(images)


def matches(event: rules.Event, truth: scenarios.Truth) -> bool:
    return (
        event.kind.value == truth.kind
        and abs(event.start - truth.start) <= TOLERANCE
        and abs(event.end - truth.end) <= TOLERANCE
    )


def tally(found: dict[str, dict[str, int]], item: scenarios.Scenario, events: list[rules.Event]) -> list[rules.Event]:
    """Count recalled events and true and false flags per kind; return the flags matching no event."""
    unmatched = list(events)
    for truth in item.truth:
        kind = found[truth.kind]
        long_enough = truth.end - truth.start >= MIN_EVENT_SECONDS
        kind["events"] += long_enough
        hit = next((e for e in unmatched if matches(e, truth)), None)
        if hit is not None:
            unmatched.remove(hit)
            kind["recalled"] += long_enough
            kind["true_flags"] += 1
    for event in unmatched:
        found[event.kind.value]["false_flags"] += 1
    for event in events:
        found[event.kind.value]["flags"] += 1
    return unmatched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60, help="length of the long recording (0: none)")
    parser.add_argument("--naive-sample", type=int, default=150, help="frames the naive baseline is timed on")
    args = parser.parse_args()

    items = list(scenarios.SCENARIOS)
    if args.minutes:
        items.append(scenarios.long_recording(args.minutes))
    print(f"Preparing {len(items)} recordings (cached in {scenarios.CACHE}) ...", flush=True)
    recordings = {item.name: scenarios.recording(item) for item in items}
    templates = {photo: scenarios.enrolled_template(photo) for photo in {item.enrol_photo for item in items}}

    found: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals = defaultdict(float)
    header = (
        f"{'recording':<18}{'minutes':>8}{'CPU s':>8}{'CPU s/h':>9}{'decode-all s':>13}{'ratio':>7}"
        f"{'naive s':>9}{'speed-up':>9}{'flags':>6}{'false':>6}  sampling"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for item in items:
        data = recordings[item.name]
        key, chunks = sealed_chunks(data, item.seconds)
        start = time.process_time()
        template = templates[item.enrol_photo]
        result = analyse_webcam(opened(key, chunks), template=template, faces=True, voice=True)
        events = rules.events_from(result.evidence, THRESHOLDS, rules.Exemptions())
        cpu = time.process_time() - start

        decode_all, frames = decode_every_frame(data)
        naive = decode_all + frames * naive_per_frame(data, frames, args.naive_sample)
        unmatched = tally(found, item, events)
        hours = item.seconds / 3600
        clean_hours = hours - sum(t.end - t.start for t in item.truth) / 3600
        totals["cpu"] += cpu
        totals["hours"] += hours
        totals["clean_hours"] += clean_hours
        totals["decode_all"] += decode_all
        totals["naive"] += naive
        totals["false"] += len(unmatched)
        print(
            f"{item.name:<18}{item.seconds / 60:>8.1f}{cpu:>8.1f}{cpu / hours:>9.0f}{decode_all:>13.1f}"
            f"{cpu / decode_all:>7.2f}{naive:>9.0f}{naive / cpu:>8.0f}x{len(events):>6}{len(unmatched):>6}"
            f"  {result.statistics['frames_sampled']} frames sampled, {result.statistics['detections']} detections,"
            f" {result.statistics['identity_checks']} identity checks, {result.statistics['decode_mode']}",
            flush=True,
        )

    print("-" * len(header))
    per_hour = totals["cpu"] / totals["hours"]
    print(
        f"{'all':<18}{totals['hours'] * 60:>8.1f}{totals['cpu']:>8.1f}{per_hour:>9.0f}{totals['decode_all']:>13.1f}"
        f"{totals['cpu'] / totals['decode_all']:>7.2f}{totals['naive']:>9.0f}{totals['naive'] / totals['cpu']:>8.0f}x"
    )
    print("\nPer flag type (standard sensitivity; recall on events of at least 5 s; a match is within 3 s):")
    print(f"{'type':<16}{'events':>7}{'recall':>8}{'flags':>7}{'precision':>10}")
    for kind in sorted(found):
        counts = found[kind]
        recall = counts["recalled"] / counts["events"] if counts["events"] else float("nan")
        precision = counts["true_flags"] / counts["flags"] if counts["flags"] else float("nan")
        print(f"{kind:<16}{counts['events']:>7}{recall:>8.2f}{counts['flags']:>7}{precision:>10.2f}")
    print(f"\nFalse flags per clean hour: {totals['false'] / totals['clean_hours']:.2f}")
    print(f"Estimated CPU for a 2-hour exam: {2 * per_hour:.0f} s (target: under 120 s)")
    print(f"Speed-up over the naive baseline: {totals['naive'] / totals['cpu']:.0f}x (target: at least 50x)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
