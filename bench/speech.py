"""Speech over steady noise: how many spoken sentences the voice-activity detector finds, per noise and
noise level, and what it costs.

Prints:

1. Per noise family (tests/sounds.py, each marked with its half) and noise level, how many of
   ``--sentences`` sentences of 3 to 3.5 s at a talking level of -20 dBFS are found at standard
   sensitivity: one flag, starting and ending within 1.5 s of the sentence, and no other flag in the
   recording. Thresholds are set on the development half; the held-back rows are the test.
2. Per noise family and level, the speech flags raised at the most lenient sensitivity on 30 s of the
   noise alone, stepping 6 dB up and back down (should be 0).
3. The detector's CPU-seconds per recorded hour, on 10 minutes of pink noise with talking in it, fed
   in runs of 1 s as the decoder hands audio over (the best of three runs).

Run: .venv/bin/python bench/speech.py [--sentences 8] [--levels=-25,-20,-15] [--only white,fan_a]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script from anywhere: the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As in the worker (proctor/__init__.py): one BLAS thread, set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from analysis import rules  # noqa: E402
from analysis.speech import RATE, VoiceActivity  # noqa: E402
from tests import sounds  # noqa: E402

#: A flag finds a sentence when its start and its end are this close to the sentence's, in seconds.
TOLERANCE = 1.5
LEVELS = (-35.0, -30.0, -25.0, -22.0, -20.0, -18.0, -15.0)


def speech_events(recording: sounds.Recording, sensitivity: str) -> list[rules.Event]:
    """The speech flags the recording gets at ``sensitivity``, its audio fed in runs of 1 s."""
    activity = VoiceActivity(min_margin_db=rules.LEAST_STRICT.speech_margin_db)
    pcm = recording.pcm16()
    for offset in range(0, len(pcm), RATE):
        activity.feed(offset / RATE, pcm[offset : offset + RATE])
    return rules.events_from(activity.evidence(), rules.THRESHOLDS[sensitivity], rules.Exemptions())


def found(recording: sounds.Recording) -> bool:
    """The one sentence in the recording is found, and nothing else is, at standard sensitivity."""
    events = speech_events(recording, "standard")
    (start, end) = recording.speech[0]
    return len(events) == 1 and abs(events[0].start - start) <= TOLERANCE and abs(events[0].end - end) <= TOLERANCE


def half_of(kind: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    if kind in sounds.DEV_NOISES:
        return "dev", sounds.DEV_VOICES, sounds.DEV_SENTENCES
    return "held-back", sounds.HELD_BACK_VOICES, sounds.HELD_BACK_SENTENCES


def sentence_table(kinds: list[str], levels: list[float], count: int) -> None:
    print(f"Sentences found of {count} at standard sensitivity (talking at {sounds.SPEECH_DB:.0f} dBFS)")
    print(f"{'noise':<10} {'half':<10}" + "".join(f"{level:>6.0f}" for level in levels))
    for kind in kinds:
        half, voices, sentences = half_of(kind)
        cells = []
        for n, level in enumerate(levels):
            hits = 0
            for index in range(count):
                recording = sounds.recording(
                    kind,
                    seconds=14,
                    levels=[(0, level)],
                    talk=[(5, 3.0 + 0.25 * (index % 3))],
                    voice=voices[index % len(voices)],
                    sentences=sentences,
                    seed=700 + 37 * n + index,
                )
                hits += found(recording)
            cells.append(hits)
        print(f"{kind:<10} {half:<10}" + "".join(f"{hits:>6}" for hits in cells), flush=True)


def noise_table(kinds: list[str], levels: list[float]) -> None:
    print("\nSpeech flags on 30 s of noise alone, 6 dB up at 10 s and back at 20 s, at high sensitivity")
    print(f"{'noise':<10} {'half':<10}" + "".join(f"{level:>6.0f}" for level in levels))
    for kind in kinds:
        half, _, _ = half_of(kind)
        cells = []
        for n, level in enumerate(levels):
            recording = sounds.recording(
                kind, seconds=30, levels=[(0, level), (10, level + 6), (20, level)], seed=900 + n
            )
            cells.append(len(speech_events(recording, "high")))
        print(f"{kind:<10} {half:<10}" + "".join(f"{flags:>6}" for flags in cells), flush=True)


def cost() -> None:
    minutes = 10
    talk = [(float(start), 4.0) for start in range(10, minutes * 60 - 10, 30)]
    recording = sounds.recording(
        "pink", seconds=minutes * 60, levels=[(0, -35), (200, -25), (400, -30)], talk=talk, seed=11
    )
    pcm = recording.pcm16()
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        activity = VoiceActivity(min_margin_db=rules.LEAST_STRICT.speech_margin_db)
        for offset in range(0, len(pcm), RATE):
            activity.feed(offset / RATE, pcm[offset : offset + RATE])
        activity.evidence()
        best = min(best, time.process_time() - start)
    print(f"\nCost: {best * 60 / minutes:.2f} CPU-s per recorded hour ({best:.2f} s on {minutes} minutes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=8, help="sentences per noise and level")
    parser.add_argument("--levels", default=",".join(f"{level:.0f}" for level in LEVELS), help="noise levels, dBFS")
    parser.add_argument("--only", default="", help="only these noise families (comma-separated)")
    parser.add_argument("--skip", default="", help="parts to leave out: any of sentences,noise,cost")
    args = parser.parse_args()
    levels = [float(level) for level in args.levels.split(",")]
    kinds = [
        kind for kind in sounds.DEV_NOISES + sounds.HELD_BACK_NOISES if not args.only or kind in args.only.split(",")
    ]
    skip = set(args.skip.split(","))
    if "sentences" not in skip:
        sentence_table(kinds, levels, args.sentences)
    if "noise" not in skip:
        noise_table(kinds, levels)
    if "cost" not in skip:
        cost()


if __name__ == "__main__":
    main()
