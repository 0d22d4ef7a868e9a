"""Speed and memory of a student's "My data" copy: the zip of their decrypted recordings, made as it
is sent.

Stores one webcam and one screen recording of the given size each, as 1 MiB sealed chunks (as the
recorder sends them), then streams the export and prints its throughput and the peak memory Python
allocated while streaming: it should stay near one chunk whatever the recordings' size, since each
chunk is decrypted, written into the zip and handed on before the next is read. Also checks that
the zip opens and that each recording in it is byte for byte what was stored.

Run: .venv/bin/python bench/export.py [--mib 256]
Uses the test settings: a throwaway data folder and an embedded database created for the run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

# Run as a script from anywhere: the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.pop("DATABASE_URL", None)  # the embedded database, made for this run

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

MIB = 1024 * 1024
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def chunk(index: int, block: bytes) -> bytes:
    """1 MiB of incompressible bytes, different for each chunk; the first starts a WebM file."""
    shift = (index * 7919) % (len(block) - MIB)
    data = block[shift : shift + MIB]
    return WEBM_MAGIC + data[4:] if index == 0 else data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="size of each of the two recordings (default 256)")
    args = parser.parse_args()

    connection.creation.create_test_db(verbosity=0)
    from exams.models import SessionStatus as S
    from exams.services import session_transition
    from privacy.export import my_data_export
    from privacy.selectors import my_data
    from recordings.services import recording_append_chunk, recording_start
    from tests.factories import ExamSessionFactory

    session = ExamSessionFactory()
    for status in (S.CONSENTED, S.READY, S.STARTED):
        session_transition(session_id=session.pk, to_status=status, actor=None, reason="bench")
    block = os.urandom(2 * MIB)
    digests = {}
    began = time.perf_counter()
    for kind in ("webcam", "screen"):
        recording = recording_start(session=session, kind=kind, mime_type="video/webm", actor=None)
        whole = hashlib.sha256()
        for seq in range(args.mib):
            data = chunk(seq, block)
            whole.update(data)
            recording_append_chunk(recording=recording, seq=seq, data=data)
        digests[kind] = whole.hexdigest()
    stored = time.perf_counter() - began
    print(f"stored 2 x {args.mib} MiB as sealed 1 MiB chunks in {stored:.1f} s")

    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        began = time.perf_counter()
        largest_piece = 0
        for piece in my_data_export(my_data(session.student)):
            largest_piece = max(largest_piece, len(piece))
            out.write(piece)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = out.tell()
        out.seek(0)
        archive = zipfile.ZipFile(io.BufferedReader(out))  # type: ignore[arg-type]
        recordings = [name for name in archive.namelist() if name.startswith("recordings/")]
        for name in recordings:
            kind = name.rsplit("/", 1)[1].split("-")[0]
            whole = hashlib.sha256()
            with archive.open(name) as member:
                while piece := member.read(MIB):
                    whole.update(piece)
            assert whole.hexdigest() == digests[kind], f"{name} differs from what was stored"
        print(f"zip of {size / MIB:.0f} MiB with {len(recordings)} recordings, each identical to what was stored")

    total = 2 * args.mib
    print(f"{'export throughput (decrypt + zip + hand on)':<48} {total / seconds:8.0f} MiB/s")
    print(f"{'peak Python memory while streaming':<48} {peak / MIB:8.1f} MiB")
    print(f"{'largest piece handed to the response':<48} {largest_piece / MIB:8.1f} MiB")
    print(f"{'recordings exported':<48} {total:8d} MiB")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
