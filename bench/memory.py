"""Peak memory of making the playback copy of a long recording: the streaming remux and seal
(recordings/remux.py, as recording_make_playback_copy runs them) against, in the same run, the
in-memory remux it replaced and the floor (only producing the recording's plaintext); then of the
analysis of a recording as long (analysis.pipeline.analyse_webcam: faces against the student's
template, and speech), on a scenario clip of a real face, with speech, repeated.

The recording is MediaRecorder-like WebM (no cues, no duration) made on the fly: a clip encoded once,
its packets copied again and again with their times moved on, so three hours cost no encoding and no
memory. Each way runs in a child process of its own, which reports its peak resident memory
(ru_maxrss, everything: Python, FFmpeg, OpenSSL) and the peak of Python's own allocations (tracemalloc).

Run: .venv/bin/python bench/memory.py [--minutes 180] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

# Run as a script from anywhere: the repository root is not on sys.path.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# As in the worker (proctor/__init__.py): one BLAS thread, set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import av  # noqa: E402

from proctor import crypto  # noqa: E402
from recordings.remux import IterReader, remux_seekable  # noqa: E402
from tests.media import make_webm  # noqa: E402

MIB = 1024 * 1024
CLIP_SECONDS = 60
LABEL = b"recording:bench:playback"
#: The issue's ceiling for the remux, and for the analysis, of a three-hour recording.
LIMIT_MIB = 300
#: The analysis clip: the scenario set's "speech" recording (the student in view, speaking twice).
ANALYSIS_CLIP_SECONDS = 180


class _Collector(io.RawIOBase):
    """A forward-only output, as a browser's MediaRecorder writes: no seeking back, so no cues."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.pieces.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        pieces, self.pieces = self.pieces, []
        return iter(pieces)


def long_recording(clip: bytes, minutes: int, clip_seconds: int = CLIP_SECONDS) -> Iterator[bytes]:
    """``minutes`` of WebM, the clip's packets over and over with their times moved on."""
    sink = _Collector()
    with av.open(io.BytesIO(clip)) as template, av.open(sink, mode="w", format="webm") as target:
        mapping = {s.index: target.add_stream_from_template(s) for s in template.streams}
        for lap in range(minutes * 60 // clip_seconds):
            with av.open(io.BytesIO(clip)) as source:
                for packet in source.demux():
                    if packet.dts is None or packet.time_base is None:
                        continue
                    # A tenth of a second between laps: the clip's audio starts a few ms before zero.
                    shift = round(lap * (clip_seconds + 0.1) / packet.time_base)
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts += shift
                    packet.stream = mapping[packet.stream.index]
                    target.mux(packet)
                    yield from sink.drain()
    yield from sink.drain()


def child(way: str, clip_path: str, minutes: int) -> None:
    """Run one way and print what it measured, as JSON, on the last line."""
    clip = Path(clip_path).read_bytes()
    key = crypto.new_data_key()
    tracemalloc.start()
    began = time.process_time()
    if way == "analysis":
        import numpy as np

        from analysis.pipeline import analyse_webcam

        # Made by the parent, as a worker reads it from the database: face_recognition's import alone loads
        # every dlib model it has, which the analysis does not.
        template = np.load(clip_path + ".template.npy")
        chunks = long_recording(clip, minutes, clip_seconds=ANALYSIS_CLIP_SECONDS)
        result = analyse_webcam(chunks, template=template, faces=True, voice=True)
        size, stored = round(result.end), len(result.evidence)  # media seconds reached, evidence found
    elif way == "floor":
        stored = sum(len(piece) for piece in long_recording(clip, minutes))
        size = stored
    elif way == "streaming":
        remuxed = remux_seekable(lambda: long_recording(clip, minutes))
        sealed = crypto.seal_stream(key, label=LABEL, chunks=remuxed.data)
        # Read as the storage reads a File to save it, 64 KiB at a time, and drop it.
        reader = IterReader(sealed)
        stored = 0
        while block := reader.read(64 * 1024):
            stored += len(block)
        size = remuxed.size
    else:  # the in-memory remux and seal that recording_make_playback_copy ran before
        output = io.BytesIO()
        with (
            av.open(IterReader(long_recording(clip, minutes)), mode="r", format="webm") as source,
            av.open(output, mode="w", format="webm") as target,
        ):
            mapping = {s.index: target.add_stream_from_template(s) for s in source.streams}
            for packet in source.demux():
                if packet.dts is not None:
                    packet.stream = mapping[packet.stream.index]
                    target.mux(packet)
        data = output.getvalue()
        sealed_bytes = b"".join(crypto.seal_stream(key, label=LABEL, chunks=[data]))
        stored, size = len(sealed_bytes), len(data)
    cpu = time.process_time() - began
    _, python_peak = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"size": size, "stored": stored, "cpu": cpu, "python_peak": python_peak / MIB, "rss": rss}))


def run_child(way: str, clip: Path, minutes: int, name: str) -> dict[str, float]:
    """One way in a child process of its own; what it measured."""
    run = subprocess.run(
        [sys.executable, __file__, "--minutes", str(minutes), "--child", way, str(clip)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if run.returncode:
        raise SystemExit(f"{name} failed:\n{run.stderr[-3000:]}")
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=180)
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the in-memory remux")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.minutes)
        return

    clip = ROOT / ".cache" / "bench-memory-clip.webm"
    if not clip.exists():  # encoding a minute costs about a CPU-minute; later runs reuse it
        clip.parent.mkdir(exist_ok=True)
        clip.write_bytes(make_webm(seconds=CLIP_SECONDS))
    print(f"Playback copy of a {args.minutes}-minute recording (a {CLIP_SECONDS}-s clip repeated).")
    print(f"{'way':<34} {'WebM MiB':>9} {'CPU s':>7} {'peak RSS MiB':>13} {'Python peak MiB':>16}")
    ways = ["floor", "streaming"] + ([] if args.skip_baseline else ["in-memory"])
    names = {
        "floor": "producing the plaintext only",
        "streaming": "streaming remux + seal (now)",
        "in-memory": "in-memory remux + seal (before)",
    }
    for way in ways:
        got = run_child(way, clip, args.minutes, names[way])
        print(
            f"{names[way]:<34} {got['size'] / MIB:9.0f} {got['cpu']:7.1f} {got['rss']:13.0f} {got['python_peak']:16.1f}"
        )
    analysis_clip = ROOT / ".cache" / "bench-memory-analysis-clip.webm"
    if not analysis_clip.exists():
        from tests import scenarios

        analysis_clip.write_bytes(scenarios.recording(scenarios.scenario("speech")))
    template_path = Path(f"{analysis_clip}.template.npy")
    if not template_path.exists():
        import numpy as np

        from identity.faces import face_encoding
        from tests import scenarios

        np.save(template_path, face_encoding(scenarios.photo(scenarios.ENROL_PHOTO)))
    got = run_child("analysis", analysis_clip, args.minutes, "the analysis")
    print(f"{'analysis (faces + speech)':<34} {'':>9} {got['cpu']:7.1f} {got['rss']:13.0f} {got['python_peak']:16.1f}")
    print(f"    the analysis reached {got['size']} s of media and found {got['stored']} pieces of evidence")
    print(f"The issue's ceiling for the remux, and for the analysis, of a three-hour recording: {LIMIT_MIB} MiB.")


if __name__ == "__main__":
    main()
