"""Ingest benchmark: N simulated students stream webcam and screen chunks into a running Invigil.

Starts throwaway PostgreSQL and Redis (scripts/services) unless DATABASE_URL and REDIS_URL are set,
migrates, creates N students with started exam sessions, starts Daphne (the Redis channel layer),
then has every student send a webcam chunk and a screen chunk every --chunk-seconds over loopback,
as MediaRecorder would. Prints chunks per second, p50/p99 acknowledgement latency, lost chunks and
the servers' peak memory, for each N. Everything it starts, it stops.

    .venv/bin/python bench/ingest.py --students 50,200,500 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    closed_early: int = 0
    latencies: list[float] = field(default_factory=list)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "proctor.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_students(n: int, run: str) -> list[tuple[str, str, str]]:
    """N students, each with a started session: (session id, session cookie, stream token)."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from exams.models import ExamSession, Role, SessionStatus
    from recordings.tokens import stream_token_for
    from tests.factories import ExamFactory, UserFactory, enrol

    exam = ExamFactory(title=f"Bench {run}", closes_at=timezone.now() + timezone.timedelta(days=1))
    out = []
    for index in range(n):
        user = UserFactory(username=f"bench-{run}-{index}")
        enrol(user, exam.course, Role.STUDENT)
        session = ExamSession.objects.create(
            exam=exam, student=user, status=SessionStatus.STARTED, started_at=timezone.now()
        )
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        cookie = f"{settings.SESSION_COOKIE_NAME}={store.session_key}"
        out.append((str(session.pk), cookie, stream_token_for(session_id=session.pk, user_id=user.pk)))
    return out


async def student(
    port: int,
    session_id: str,
    cookie: str,
    token: str,
    *,
    seconds: float,
    chunk_seconds: float,
    webcam_bytes: int,
    screen_bytes: int,
    tally: Tally,
) -> None:
    import json
    import struct

    import websockets

    header = struct.Struct(">BBHIQ")  # recordings/protocol.py
    url = f"ws://127.0.0.1:{port}/ws/sessions/{session_id}/stream/?token={token}"
    pending: dict[tuple[int, int], float] = {}
    try:
        async with websockets.connect(
            url,
            additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"},
            max_size=2**20,
            open_timeout=60,
            ping_interval=None,
        ) as ws:
            for stream in ("webcam", "screen"):
                await ws.send(json.dumps({"type": "start", "stream": stream, "mime": "video/webm"}))
                await ws.recv()

            async def reader() -> None:
                async for message in ws:
                    reply = json.loads(message)
                    if reply.get("type") == "ack":
                        key = (0 if reply["stream"] == "webcam" else 1, reply["seq"])
                        tally.latencies.append(time.monotonic() - pending.pop(key))
                        tally.acked += 1
                    elif reply.get("type") in ("error", "closing"):
                        tally.errors += 1

            reading = asyncio.create_task(reader())
            await asyncio.sleep(random.uniform(0, chunk_seconds))  # students do not start in step
            rounds = max(1, int(seconds / chunk_seconds))
            for seq in range(rounds):
                for stream, size in ((0, webcam_bytes), (1, screen_bytes)):
                    body = os.urandom(size)
                    if seq == 0:
                        body = WEBM_MAGIC + body[4:]
                    pending[(stream, seq)] = time.monotonic()
                    await ws.send(header.pack(1, stream, 0, seq, int(time.time() * 1000)) + body)
                    tally.sent += 1
                await asyncio.sleep(chunk_seconds)
            deadline = time.monotonic() + 30
            while pending and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            reading.cancel()
    except (OSError, websockets.WebSocketException, TimeoutError):
        tally.closed_early += 1


async def drive(
    ports: list[int], students: list[tuple[str, str, str]], args: argparse.Namespace, server_pids: list[int]
) -> tuple[Tally, float, float]:
    tally = Tally()
    peak = 0.0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(rss_mib(pid) for pid in server_pids))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    await asyncio.gather(
        *(
            student(
                ports[i % len(ports)],
                *s,
                seconds=args.seconds,
                chunk_seconds=args.chunk_seconds,
                webcam_bytes=args.webcam_kbit * 125 * int(args.chunk_seconds),
                screen_bytes=args.screen_kbit * 125 * int(args.chunk_seconds),
                tally=tally,
            )
            for i, s in enumerate(students)
        )
    )
    elapsed = time.monotonic() - started
    sampler.cancel()
    return tally, elapsed, peak


def start_servers(ports: list[int], env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """One Daphne per port, returned once each accepts connections."""
    daphne = str(Path(sys.executable).parent / "daphne")
    servers = [
        subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(port), "proctor.asgi:application"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    for port in ports:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
    return servers


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", default="50,200,500", help="comma-separated N values")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each student streams")
    parser.add_argument("--chunk-seconds", type=float, default=3.0, help="MediaRecorder timeslice")
    parser.add_argument("--webcam-kbit", type=int, default=400, help="webcam+audio bitrate")
    parser.add_argument("--screen-kbit", type=int, default=150, help="screen bitrate")
    parser.add_argument("--servers", type=int, default=2, help="Daphne processes")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="invigil-bench-")
    env = {
        "INVIGIL_DATA_DIR": data_dir,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "INVIGIL_KEYS": "bench:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMzI=",
    }  # a bench-only key
    own_services = not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    if own_services:
        exports = subprocess.run([str(ROOT / "scripts/services"), "start"], check=True, capture_output=True, text=True)
        for line in exports.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
    else:
        env["DATABASE_URL"], env["REDIS_URL"] = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env={**os.environ, **env}, check=True
        )
        setup_django(env)
        ports = [free_port() for _ in range(args.servers)]
        servers = start_servers(ports, env)
        print(
            f"Invigil ingest benchmark: {args.servers} Daphne process(es), Redis channel layer, PostgreSQL, "
            f"media fsynced to {data_dir}"
        )
        print(
            f"each student: webcam {args.webcam_kbit} kbit/s + screen {args.screen_kbit} kbit/s, "
            f"one chunk per stream every {args.chunk_seconds:g} s, for {args.seconds:g} s; {os.cpu_count()} cores"
        )
        print(
            f"{'N':>5} {'chunks':>7} {'acked':>7} {'lost':>5} {'chunks/s':>9} {'MB/s':>6} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'errors':>7} {'dropped':>8} {'server MiB':>11}"
        )
        for n in (int(v) for v in args.students.split(",")):
            students = create_students(n, run=f"{n}-{int(time.time())}")
            tally, elapsed, peak = asyncio.run(drive(ports, students, args, [s.pid for s in servers]))
            mb = tally.acked / 2 * (args.webcam_kbit + args.screen_kbit) * 125 * args.chunk_seconds / 1e6
            print(
                f"{n:>5} {tally.sent:>7} {tally.acked:>7} {tally.sent - tally.acked:>5} "
                f"{tally.acked / elapsed:>9.1f} {mb / elapsed:>6.2f} {percentile(tally.latencies, 50) * 1000:>8.1f} "
                f"{percentile(tally.latencies, 99) * 1000:>8.1f} {tally.errors:>7} {tally.closed_early:>8} "
                f"{peak:>11.0f}",
                flush=True,
            )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if own_services:
            subprocess.run([str(ROOT / "scripts/services"), "stop"], check=False)
        subprocess.run(["rm", "-rf", data_dir], check=False)


if __name__ == "__main__":
    main()
