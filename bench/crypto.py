"""Throughput of sealing and opening media, latency of random 1 MiB range reads from a sealed file, and the
cost of unwrapping a data key (master key only, or through a retention-period key from the key store).

Run: .venv/bin/python bench/crypto.py
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

# Run as a script from anywhere, the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proctor.crypto import (  # noqa: E402 - needs the sys.path line above
    SEGMENT_SIZE,
    KeyRing,
    new_data_key,
    open_range,
    open_sealed,
    open_stream,
    seal,
    seal_stream,
)
from proctor.keystore import KeyStore, period_key_label  # noqa: E402 - needs the sys.path line above

MIB = 1024 * 1024
IN_MEMORY_SIZE = 64 * MIB
FILE_SIZE = 256 * MIB
RANGE_SIZE = 1 * MIB
RANGE_READS = 200
REPEATS = 5
LABEL = b"recording:bench"


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS, where this figure would read 1024x too high).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report_rate(what: str, mib: float, seconds: float) -> None:
    print(f"{what:<52} {mib / seconds:8.0f} MiB/s")


def median_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


# Each 1 MiB chunk of the file's plaintext is a differently shifted window on one random block: cheap to
# make (so the write figure measures sealing, not a random generator) and cheap to remake when checking a
# range read, without keeping 256 MiB of plaintext around.
_BASE = random.Random(0).randbytes(MIB + 4096)


def file_chunk(index: int) -> bytes:
    shift = (index * 7919) % 4096
    return _BASE[shift : shift + MIB]


def file_chunks() -> Iterator[bytes]:
    for index in range(FILE_SIZE // MIB):
        yield file_chunk(index)


def expected_slice(start: int, stop: int) -> bytes:
    first, last = start // MIB, (stop - 1) // MIB
    covering = b"".join(file_chunk(index) for index in range(first, last + 1))
    return covering[start - first * MIB : stop - first * MIB]


def bench_file(key: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="invigil-bench-") as folder:
        path = Path(folder) / "sealed.bin"
        began = time.perf_counter()
        with path.open("wb") as out:
            for piece in seal_stream(key, label=LABEL, chunks=file_chunks()):
                out.write(piece)
        written = time.perf_counter() - began
        length = path.stat().st_size
        report_rate("seal_stream 256 MiB to a file (no fsync)", FILE_SIZE / MIB, written)

        with path.open("rb") as sealed_file:
            began = time.perf_counter()
            total = sum(len(piece) for piece in open_stream(key, label=LABEL, fileobj=sealed_file))
            elapsed = time.perf_counter() - began
        assert total == FILE_SIZE
        report_rate("open_stream 256 MiB from the file", FILE_SIZE / MIB, elapsed)

        rng = random.Random(1)
        latencies = []
        with path.open("rb") as sealed_file:
            for _ in range(RANGE_READS):
                start = rng.randrange(0, FILE_SIZE - RANGE_SIZE + 1)
                stop = start + RANGE_SIZE
                began = time.perf_counter()
                got = open_range(
                    key, label=LABEL, fileobj=sealed_file, ciphertext_length=length, start=start, stop=stop
                )
                latencies.append(time.perf_counter() - began)
                assert got == expected_slice(start, stop)
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(
            f"random 1 MiB range of a 256 MiB sealed file ({RANGE_READS} reads, warm page cache): "
            f"median {statistics.median(latencies) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"
        )
    assert not path.exists()


def bench_memory(key: bytes) -> None:
    plaintext = os.urandom(IN_MEMORY_SIZE)
    ciphertext = seal(key, label=LABEL, plaintext=plaintext)
    assert open_sealed(key, label=LABEL, ciphertext=ciphertext) == plaintext
    mib = IN_MEMORY_SIZE / MIB

    took = median_seconds(lambda: seal(key, label=LABEL, plaintext=plaintext))
    report_rate("seal 64 MiB (bytes in memory)", mib, took)
    took = median_seconds(lambda: open_sealed(key, label=LABEL, ciphertext=ciphertext))
    report_rate("open_sealed 64 MiB (bytes in memory)", mib, took)

    def stream_in() -> None:
        chunks = (plaintext[i : i + 256 * 1024] for i in range(0, len(plaintext), 256 * 1024))
        for _ in seal_stream(key, label=LABEL, chunks=chunks):
            pass

    def stream_out() -> None:
        for _ in open_stream(key, label=LABEL, fileobj=BytesIO(ciphertext)):
            pass

    took = median_seconds(stream_in)
    report_rate("seal_stream 64 MiB in 256 KiB chunks", mib, took)
    took = median_seconds(stream_out)
    report_rate("open_stream 64 MiB from memory", mib, took)


UNWRAPS = 20_000


def report_micro(what: str, seconds: float, count: int) -> None:
    print(f"{what:<52} {seconds / count * 1e6:8.1f} us")


def bench_unwrap() -> None:
    """Every decrypt starts by unwrapping its data key. With period keys that is the period key (from the
    in-memory cache, its file checked at most once a second, or from the file) and then the data key."""
    master = KeyRing([("bench", new_data_key())])
    label = b"datakey:bench"
    direct = master.wrap(new_data_key(), label=label)
    took = median_seconds(lambda: [master.unwrap(direct, label=label) for _ in range(UNWRAPS)])
    report_micro("unwrap a data key under the master key", took, UNWRAPS)
    with tempfile.TemporaryDirectory() as folder:
        store = KeyStore(folder, master)
        wrapped = store.ring("period:2027-06", create=True).wrap(new_data_key(), label=label)
        took = median_seconds(
            lambda: [store.ring("period:2027-06").unwrap(wrapped, label=label) for _ in range(UNWRAPS)]
        )
        report_micro("unwrap through a period key (cached; file checked 1/s)", took, UNWRAPS)
        sealed_file = Path(folder, "period-2027-06.key")

        def uncached() -> None:
            for _ in range(UNWRAPS // 10):
                period_key = master.unwrap(sealed_file.read_bytes(), label=period_key_label("period:2027-06"))
                KeyRing([("period:2027-06", period_key)]).unwrap(wrapped, label=label)

        report_micro("unwrap through a period key read from its file", median_seconds(uncached), UNWRAPS // 10)


def main() -> None:
    bench_unwrap()
    key = new_data_key()
    print(f"segment size {SEGMENT_SIZE // 1024} KiB; MiB/s are medians of {REPEATS} runs where repeated")
    # The streaming file phase runs first, so the first peak-RSS figure is not masked by the in-memory one.
    bench_file(key)
    print(f"{'peak RSS after the file phase (streaming, ranges)':<52} {peak_rss_mib():8.0f} MiB")
    bench_memory(key)
    print(f"{'peak RSS after the 64 MiB in-memory phase':<52} {peak_rss_mib():8.0f} MiB")


if __name__ == "__main__":
    main()
