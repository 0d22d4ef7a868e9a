"""Fault benchmark: N students stream while each part of the stack is killed and restarted in turn.

Two Daphne processes, a Celery worker, PostgreSQL (durable: fsync on) and Redis run as in production.
200 students (by default) stream webcam and screen chunks at a real exam's load, and behave like the
exam page: every chunk is kept until it is acknowledged; when the socket drops, the student reconnects
with back-off to either server and re-sends whatever was not acknowledged. Meanwhile, one after another:

    a Daphne process is killed (SIGKILL) and started again;
    the Celery worker is killed (SIGKILL) and started again;
    PostgreSQL stops at once (pg_ctl -m immediate, a crash) and starts again;
    Redis is killed (SIGKILL) and started again.

At the end it prints the chunks sent, acknowledged and stored, and whether every stored recording
decrypts to exactly the bytes its student sent. Zero lost is the pass mark.

    .venv/bin/python bench/faults.py                       # 200 students, about 3 minutes
    .venv/bin/python bench/faults.py --students 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (  # noqa: E402  (bench/ is not a package)
    HEADER,
    ROOT,
    WEBM_MAGIC,
    create_students,
    free_port,
    setup_django,
    start_servers,
    start_services,
    stop_servers,
    stream_socket,
)

STREAMS = ("webcam", "screen")


class Bodies:
    """Chunk bodies anyone can recompute: a pool of random blocks, each chunk stamped with who sent it
    and where it goes, so that a chunk stored in the wrong place or twice shows."""

    def __init__(self, sizes: tuple[int, int], seed: int) -> None:
        rng = random.Random(seed)
        self.sizes = sizes
        self.pool = {size: [rng.randbytes(size) for _ in range(8)] for size in sizes}

    def get(self, student: int, stream: int, seq: int) -> bytes:
        size = self.sizes[stream]
        stamp = struct.pack(">4sIII", b"IVGB", student, stream, seq)
        body = stamp + self.pool[size][(student * 7 + seq) % 8][len(stamp) :]
        return WEBM_MAGIC + body[4:] if seq == 0 else body


@dataclass
class Tally:
    sent: int = 0  # frames sent, re-sends included
    acked: set[tuple[int, int, int]] = field(default_factory=set)
    reconnects: int = 0
    refused: int = 0


@dataclass
class Fault:
    name: str
    at: float
    down_for: float
    started: float = 0.0
    restored: float = 0.0
    notes: list[str] = field(default_factory=list)


class Page:
    """One exam page: records on a fixed clock whatever the network does, keeps every chunk until it is
    acknowledged, and uploads what it holds over whichever socket it has."""

    def __init__(self, index: int, bodies: Bodies, tally: Tally, *, rounds: int, chunk_seconds: float) -> None:
        self.index, self.bodies, self.tally = index, bodies, tally
        self.rounds, self.chunk_seconds = rounds, chunk_seconds
        self.unacked: dict[tuple[int, int], bytes] = {}
        self.ready: set[int] = set()  # streams started on the current socket
        self.socket: Any = None
        self.recorded = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.recorded.is_set() and not self.unacked

    async def send(self, stream: int, seq: int) -> None:
        frame = HEADER.pack(1, stream, 0, seq, int(time.time() * 1000)) + self.unacked[(stream, seq)]
        await self.socket.send(frame)
        self.tally.sent += 1

    async def record(self) -> None:
        import websockets

        await asyncio.sleep(random.uniform(0, self.chunk_seconds))
        start = time.monotonic()
        for seq in range(self.rounds):
            for stream in (0, 1):
                self.unacked[(stream, seq)] = self.bodies.get(self.index, stream, seq)
                if self.socket is not None and stream in self.ready:
                    with contextlib.suppress(websockets.WebSocketException):  # re-sent after the reconnect
                        await self.send(stream, seq)
            await asyncio.sleep(max(0.0, start + (seq + 1) * self.chunk_seconds - time.monotonic()))
        self.recorded.set()

    async def upload(self, url: str, cookie: str, deadline: float) -> None:
        """One socket's life: start both streams, re-send what is unacknowledged, read acknowledgements."""

        async with stream_socket(url, cookie, open_timeout=10) as ws:
            self.socket = ws
            for stream in STREAMS:
                await ws.send(json.dumps({"type": "start", "stream": stream, "mime": "video/webm"}))
            while not self.finished and time.monotonic() < deadline:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=1.0))
                except TimeoutError:
                    continue
                if message.get("type") == "started":
                    stream = STREAMS.index(message["stream"])
                    self.ready.add(stream)
                    for s, seq in sorted(self.unacked):  # everything not acknowledged, in order
                        if s == stream:
                            await self.send(s, seq)
                elif message.get("type") == "ack":
                    stream = STREAMS.index(message["stream"])
                    self.unacked.pop((stream, message["seq"]), None)
                    self.tally.acked.add((self.index, stream, message["seq"]))
                    self.retry = 0
                elif message.get("type") in ("error", "closing"):
                    self.tally.refused += 1

    async def run(self, ports: list[int], session_id: str, cookie: str, token: str, deadline: float) -> None:
        import websockets

        recorder = asyncio.create_task(self.record())
        self.retry = 0
        while not self.finished and time.monotonic() < deadline:
            url = f"ws://127.0.0.1:{random.choice(ports)}/ws/sessions/{session_id}/stream/?token={token}"
            with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
                await self.upload(url, cookie, deadline)
            self.socket = None
            self.ready.clear()
            if self.finished:
                break
            self.tally.reconnects += 1
            # The page's back-off: 0.5 s doubling to 10 s, with jitter.
            await asyncio.sleep(min(10.0, 0.5 * 2**self.retry) * random.uniform(0.75, 1.25))
            self.retry += 1
        recorder.cancel()


class Stack:
    """The processes the faults are done to."""

    def __init__(self, env: dict[str, str], servers: int) -> None:
        self.env = env
        self.ports = [free_port() for _ in range(servers)]
        self.log_dir = env["INVIGIL_DATA_DIR"]
        self.daphnes = start_servers(self.ports, env, "proctor.asgi:application", log_dir=self.log_dir)
        self.worker = self.start_worker()
        self.services_dir = Path((ROOT / ".run/services/dir").read_text().strip())
        self.pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.pg_port = urlsplit(env["DATABASE_URL"]).port
        self.redis_port = urlsplit(env["REDIS_URL"]).port

    def start_worker(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "proctor", "worker", "-l", "warning"]
            + ["-Q", "celery,analysis", "--concurrency", "1"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self.log_dir, "worker.log"), "ab"),  # noqa: SIM115
        )

    def as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def kill(self, name: str) -> None:
        if name == "daphne":
            self.daphnes[0].send_signal(signal.SIGKILL)
            self.daphnes[0].wait()
        elif name == "worker":
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
        elif name == "postgresql":
            data = str(self.services_dir / "pg/data")
            self.as_postgres(str(self.pgbin / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        elif name == "redis":
            pid = int((self.services_dir / "redis.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    def restart(self, name: str) -> None:
        if name == "daphne":
            self.daphnes[0] = start_servers(self.ports[:1], self.env, "proctor.asgi:application", log_dir=self.log_dir)[
                0
            ]
        elif name == "worker":
            self.worker = self.start_worker()
        elif name == "postgresql":
            folder = self.services_dir / "pg"
            self.as_postgres(
                str(self.pgbin / "pg_ctl"),
                "-D",
                str(folder / "data"),
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-h 127.0.0.1 -p {self.pg_port} -k {folder}",
                "start",
            )
        elif name == "redis":
            folder = self.services_dir
            subprocess.run(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", ""]
                + ["--appendonly", "no", "--daemonize", "yes", "--dir", str(folder)]
                + ["--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log")],
                check=True,
            )

    def stop(self) -> None:
        stop_servers([*self.daphnes, self.worker])


async def run_faults(stack: Stack, faults: list[Fault], began: float) -> None:
    for fault in faults:
        await asyncio.sleep(max(0.0, began + fault.at - time.monotonic()))
        fault.started = time.monotonic() - began
        await asyncio.to_thread(stack.kill, fault.name)
        await asyncio.sleep(fault.down_for)
        await asyncio.to_thread(stack.restart, fault.name)
        fault.restored = time.monotonic() - began


def verify(students: list[tuple[str, str, str]], rounds: int, bodies: Bodies) -> tuple[int, int, list[str]]:
    """Chunks stored, recordings that decrypt to exactly what was sent, and what is wrong with the rest."""
    from django.db import close_old_connections

    from recordings.models import Recording, RecordingChunk
    from recordings.selectors import recording_plaintext

    close_old_connections()  # the bench's own connection did not survive PostgreSQL's crash
    stored = RecordingChunk.objects.filter(recording__session_id__in=[s[0] for s in students]).count()
    exact, problems = 0, []
    for index, (session_id, _, _) in enumerate(students):
        for stream, kind in enumerate(STREAMS):
            recording = Recording.objects.filter(session_id=session_id, kind=kind, part=0).first()
            if recording is None:
                problems.append(f"student {index}: no {kind} recording")
                continue
            expected = b"".join(bodies.get(index, stream, seq) for seq in range(rounds))
            got = b"".join(recording_plaintext(recording))
            if got == expected:
                exact += 1
            else:
                problems.append(f"student {index} {kind}: {len(got)} bytes stored, {len(expected)} sent")
    return stored, exact, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=100.0, help="how long each student records")
    parser.add_argument("--chunk-seconds", type=float, default=2.0)
    parser.add_argument("--webcam-kbit", type=int, default=480)
    parser.add_argument("--screen-kbit", type=int, default=160)
    parser.add_argument("--servers", type=int, default=2, help="Daphne processes")
    parser.add_argument("--only", help="comma-separated faults to do (daphne, worker, postgresql, redis)")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds after recording ends to upload the rest")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="invigil-faults-")
    env = {
        "INVIGIL_DATA_DIR": data_dir,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "ERROR",
        "DEBUG": "false",
        "INVIGIL_KEYS": "bench:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMzI=",  # a bench-only key
    }
    own_services = start_services(env)
    stack: Stack | None = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env={**os.environ, **env}, check=True
        )
        setup_django(env)
        students = create_students(args.students, run=f"faults-{int(time.time())}")
        stack = Stack(env, args.servers)
        rounds = max(1, round(args.seconds / args.chunk_seconds))
        sizes = (round(args.webcam_kbit * 125 * args.chunk_seconds), round(args.screen_kbit * 125 * args.chunk_seconds))
        bodies = Bodies(sizes, seed=args.students)
        step = args.seconds / 5
        faults = [
            Fault("daphne", at=step, down_for=5),
            Fault("worker", at=2 * step, down_for=5),
            Fault("postgresql", at=3 * step, down_for=8),
            Fault("redis", at=4 * step, down_for=5),
        ]
        if args.only:
            faults = [fault for fault in faults if fault.name in args.only.split(",")]
        print(
            f"Fault benchmark: {args.students} students, webcam {args.webcam_kbit} + screen {args.screen_kbit} "
            f"kbit/s in {args.chunk_seconds:g}-s chunks for {args.seconds:g} s, {args.servers} Daphne processes, "
            f"a Celery worker, PostgreSQL (fsync on) and Redis; their logs in {data_dir}",
            flush=True,
        )
        tally = Tally()

        async def drive() -> None:
            began = time.monotonic()
            deadline = began + args.seconds + args.chunk_seconds + args.drain
            await asyncio.gather(
                run_faults(stack, faults, began),  # type: ignore[arg-type]
                *(
                    Page(index, bodies, tally, rounds=rounds, chunk_seconds=args.chunk_seconds).run(
                        stack.ports,  # type: ignore[union-attr]
                        session_id,
                        cookie,
                        token,
                        deadline,
                    )
                    for index, (session_id, cookie, token) in enumerate(students)
                ),
            )

        asyncio.run(drive())
        print(f"\n{'fault':<11} {'killed at s':>11} {'back at s':>9}")
        for fault in faults:
            print(f"{fault.name:<11} {fault.started:>11.1f} {fault.restored:>9.1f}")
        stored, exact, problems = verify(students, rounds, bodies)
        chunks = args.students * rounds * 2
        print(
            f"\nchunks recorded {chunks}, frames sent {tally.sent} (re-sends included), acknowledged "
            f"{len(tally.acked)}, stored {stored}, lost {chunks - stored}; reconnects {tally.reconnects}, "
            f"errors from the server {tally.refused}"
        )
        print(f"recordings that decrypt to exactly the bytes sent: {exact} of {2 * args.students}")
        for problem in problems[:10]:
            print(f"    {problem}")
        if stored != chunks or exact != 2 * args.students or len(tally.acked) != chunks:
            sys.exit(1)
    finally:
        if stack is not None:
            stack.stop()
        if own_services:
            subprocess.run([str(ROOT / "scripts/services"), "stop"], check=False)


if __name__ == "__main__":
    main()
