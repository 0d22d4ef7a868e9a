"""Ingest benchmark: N simulated students stream webcam and screen chunks into a running Invigil, and
the same load goes to a bare Channels consumer on the same stack (bench/ingest_baseline.py: encrypt,
append to a file, fsync, acknowledge) as the baseline measured in the same run.

By default the load of a real exam: one chunk per stream every 2 s, webcam 480 kbit/s (120 KB chunks)
and screen 160 kbit/s (40 KB), N = 200, 500 and 1,000, each streaming for 60 s. Starts throwaway
PostgreSQL (durable: fsync on) and Redis (scripts/services) unless DATABASE_URL and REDIS_URL are set, migrates, creates
N students with started exam sessions, starts Daphne (the Redis channel layer, DEBUG off), and has every student
send its chunks over loopback as MediaRecorder would. For each N it prints chunks per second offered
and served, p50/p99/max acknowledgement latency (and the p99 of the chunks sent while students were still
connecting, the ramp, apart from that of the others), chunks lost (unacknowledged --drain seconds after the
last was sent), the CPU seconds (user+sys, from /proc) of the Daphne processes, of PostgreSQL and Redis
and of this load generator, the Daphne processes' peak memory, and the share of the machine's CPU time its
hypervisor gave to other guests while the students streamed (steal); then Invigil against the baseline.
Everything it starts, it stops. The load generator shares the machine with the servers.

    .venv/bin/python bench/ingest.py                          # the real load, about 10 minutes
    .venv/bin/python bench/ingest.py --students 500 --seconds 20 --profile /tmp/ingest.prof
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"
HEADER = struct.Struct(">BBHIQ")  # recordings/protocol.py
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def _stat_fields(pid: int) -> list[str]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User+sys CPU of a process; with ``children``, also of its exited children it has waited for and
    of the live ones (PostgreSQL's backends)."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                child = _stat_fields(int(entry.name))
                if child and int(child[1]) == pid:  # ppid
                    ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICKS


def machine_ticks() -> tuple[int, int]:
    """All CPU time of the machine so far and the part of it the hypervisor gave to other guests (steal),
    in ticks (/proc/stat): on a shared virtual machine a stolen share turns a saturated run's latency into
    the neighbours' doing, so each run says how much was stolen."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0  # user .. steal (guest time is in user)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def service_pids() -> tuple[int | None, int | None]:
    """PostgreSQL's postmaster and Redis, when scripts/services started them."""
    try:
        folder = Path((ROOT / ".run/services/dir").read_text().strip())
        postmaster = int((folder / "pg/data/postmaster.pid").read_text().split()[0])
        redis = int((folder / "redis.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None, None
    return postmaster, redis


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    closed_early: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    last_ack: float = 0.0
    latencies: list[float] = field(default_factory=list)
    latency_sent: list[float] = field(default_factory=list)  # when the chunk of each latency was sent
    sends: list[float] = field(default_factory=list)  # when each chunk was sent
    acks: list[float] = field(default_factory=list)  # when each acknowledgement arrived
    firsts: list[float] = field(default_factory=list)  # each student's first send
    lasts: list[float] = field(default_factory=list)  # each student's last send
    drop_reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class Result:
    n: int
    sent: int
    acked: int
    offered_per_s: float
    served_per_s: float
    ramp_s: float
    full_offered_per_s: float
    full_served_per_s: float
    p50_ms: float
    p99_ms: float
    ramp_p99_ms: float  # of the chunks sent while students were still connecting
    full_p99_ms: float  # of the others
    max_ms: float
    errors: int
    closed_early: int
    daphne_cpu: float
    services_cpu: float
    client_cpu: float
    peak_mib: float
    steal_percent: float
    drop_reasons: Counter[str]

    @property
    def lost(self) -> int:
        return self.sent - self.acked


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "proctor.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_students(n: int, run: str) -> list[tuple[str, str, str]]:
    """N students, each with a started session: (session id, session cookie, stream token)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from exams.models import ExamSession, Role, SessionStatus
    from recordings.tokens import stream_token_for
    from tests.factories import ExamFactory, enrol

    exam = ExamFactory(title=f"Bench {run}", closes_at=timezone.now() + timezone.timedelta(days=1))
    out = []
    for index in range(n):
        # No password: hashing one per student would take minutes at N = 1,000.
        user = get_user_model()(username=f"bench-{run}-{index}")
        user.set_unusable_password()
        user.save()
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


class Bodies:
    """Random chunk bodies drawn from a pool: generating 40 MB/s of fresh randomness would take CPU
    from the servers on a small machine, and the servers cannot tell."""

    def __init__(self, sizes: tuple[int, int]) -> None:
        self.pool = {size: [os.urandom(size) for _ in range(8)] for size in sizes}

    def get(self, size: int, *, first: bool) -> bytes:
        body = random.choice(self.pool[size])
        return WEBM_MAGIC + body[4:] if first else body


def stream_socket(url: str, cookie: str, *, open_timeout: float) -> Any:
    """A recording socket as the exam page opens it: signed in by cookie, from the site's origin."""
    import websockets

    return websockets.connect(
        url,
        additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"},
        max_size=2**20,
        open_timeout=open_timeout,
        ping_interval=None,
        close_timeout=1,
    )


async def student(
    port: int,
    session_id: str,
    cookie: str,
    token: str,
    *,
    seconds: float,
    chunk_seconds: float,
    drain: float,
    sizes: tuple[int, int],
    bodies: Bodies,
    tally: Tally,
) -> None:
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/sessions/{session_id}/stream/?token={token}"
    pending: dict[tuple[int, int], float] = {}
    try:
        async with stream_socket(url, cookie, open_timeout=120) as ws:
            for stream in ("webcam", "screen"):
                await ws.send(json.dumps({"type": "start", "stream": stream, "mime": "video/webm"}))
                await ws.recv()

            async def reader() -> None:
                async for message in ws:
                    reply = json.loads(message)
                    if reply.get("type") == "ack":
                        key = (0 if reply["stream"] == "webcam" else 1, reply["seq"])
                        now = time.monotonic()
                        sent_at = pending.pop(key)
                        tally.latencies.append(now - sent_at)
                        tally.latency_sent.append(sent_at)
                        tally.acks.append(now)
                        tally.acked += 1
                        tally.last_ack = max(tally.last_ack, now)
                    elif reply.get("type") in ("error", "closing"):
                        tally.errors += 1

            reading = asyncio.create_task(reader())
            await asyncio.sleep(random.uniform(0, chunk_seconds))  # students do not start in step
            rounds = max(1, round(seconds / chunk_seconds))
            start = time.monotonic()
            for seq in range(rounds):
                for index, size in enumerate(sizes):
                    now = time.monotonic()
                    tally.first_send = min(tally.first_send or now, now)
                    tally.last_send = max(tally.last_send, now)
                    pending[(index, seq)] = now
                    tally.sends.append(now)
                    if seq == 0 and index == 0:
                        tally.firsts.append(now)
                    frame = HEADER.pack(1, index, 0, seq, int(time.time() * 1000))
                    await ws.send(frame + bodies.get(size, first=seq == 0))
                    tally.sent += 1
                if seq == rounds - 1:
                    tally.lasts.append(time.monotonic())
                # On a fixed clock, like MediaRecorder: a slow send does not slow the next chunk down.
                await asyncio.sleep(max(0.0, start + (seq + 1) * chunk_seconds - time.monotonic()))
            deadline = time.monotonic() + drain
            while pending and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            reading.cancel()
    except (OSError, websockets.WebSocketException, TimeoutError) as exc:
        tally.closed_early += 1
        tally.drop_reasons[repr(exc)[:100]] += 1


async def drive(
    ports: list[int], students: list[tuple[str, str, str]], args: argparse.Namespace, server_pids: list[int]
) -> Result:
    tally = Tally()
    peak = 0.0
    sizes = (round(args.webcam_kbit * 125 * args.chunk_seconds), round(args.screen_kbit * 125 * args.chunk_seconds))
    bodies = Bodies(sizes)

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(rss_mib(pid) for pid in server_pids))
            await asyncio.sleep(0.5)

    postmaster, redis = service_pids()

    def services_cpu() -> float:
        return (cpu_seconds(postmaster, children=True) if postmaster else 0.0) + (cpu_seconds(redis) if redis else 0.0)

    ticks_before, steal_before = machine_ticks()
    daphne_before, services_before, client_before = (
        sum(cpu_seconds(pid) for pid in server_pids),
        services_cpu(),
        own_cpu_seconds(),
    )
    sampler = asyncio.create_task(sample())
    await asyncio.gather(
        *(
            student(
                ports[i % len(ports)],
                *s,
                seconds=args.seconds,
                chunk_seconds=args.chunk_seconds,
                drain=args.drain,
                sizes=sizes,
                bodies=bodies,
                tally=tally,
            )
            for i, s in enumerate(students)
        )
    )
    sampler.cancel()
    ticks_after, steal_after = machine_ticks()
    # The sending window; served counts the acknowledgements over that window, or over the time the
    # server took to acknowledge them when it fell behind.
    window = tally.last_send - tally.first_send + args.chunk_seconds
    served_over = max(window, tally.last_ack - tally.first_send)
    # Students connect one after another (each sign-in and stream start is written and audited), so the
    # whole load is offered only from the last student's first chunk to the first student's last: the
    # ramp is how long connecting took, and the full-load rates count that window alone.
    full_from, full_to = max(tally.firsts, default=0.0), min(tally.lasts, default=0.0)
    full = max(full_to - full_from, 1e-9)
    ramp = full_from - min(tally.firsts, default=0.0)
    timed = list(zip(tally.latencies, tally.latency_sent, strict=True))
    return Result(
        n=len(students),
        sent=tally.sent,
        acked=tally.acked,
        offered_per_s=tally.sent / window,
        served_per_s=tally.acked / served_over,
        ramp_s=ramp,
        full_offered_per_s=sum(full_from <= t < full_to for t in tally.sends) / full,
        full_served_per_s=sum(full_from <= t < full_to for t in tally.acks) / full,
        p50_ms=percentile(tally.latencies, 50) * 1000,
        p99_ms=percentile(tally.latencies, 99) * 1000,
        ramp_p99_ms=percentile([d for d, t in timed if t < full_from], 99) * 1000,
        full_p99_ms=percentile([d for d, t in timed if t >= full_from], 99) * 1000,
        max_ms=max(tally.latencies, default=float("nan")) * 1000,
        errors=tally.errors,
        closed_early=tally.closed_early,
        daphne_cpu=sum(cpu_seconds(pid) for pid in server_pids) - daphne_before,
        services_cpu=services_cpu() - services_before,
        client_cpu=own_cpu_seconds() - client_before,
        peak_mib=peak,
        steal_percent=100 * (steal_after - steal_before) / max(ticks_after - ticks_before, 1),
        drop_reasons=tally.drop_reasons,
    )


def start_servers(
    ports: list[int], env: dict[str, str], application: str, *, profile: str | None = None, log_dir: str | None = None
) -> list[subprocess.Popen[bytes]]:
    """One Daphne per port, returned once each accepts connections; their output goes to log_dir, if given."""
    daphne = [str(Path(sys.executable).parent / "daphne")]
    servers = []
    for index, port in enumerate(ports):
        extra = {}
        command = daphne
        if profile:
            command = [sys.executable, str(ROOT / "bench/daphne_profiled.py")]
            extra["INGEST_PROFILE_OUT"] = f"{profile}.{index}"
        servers.append(
            subprocess.Popen(
                [*command, "-b", "127.0.0.1", "-p", str(port), application],
                cwd=ROOT,
                env={**os.environ, **env, **extra},
                stdout=subprocess.DEVNULL,
                stderr=open(Path(log_dir, f"daphne-{port}.log"), "ab") if log_dir else subprocess.DEVNULL,  # noqa: SIM115
            )
        )
    for port in ports:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
    return servers


def stop_servers(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def print_header() -> None:
    print(
        f"{'server':<9} {'N':>5} {'sent':>7} {'acked':>7} {'lost':>6} {'offered/s':>9} {'served/s':>9} "
        f"{'ramp s':>6} {'full load offered/s':>19} {'served/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'in ramp':>7} {'after':>6} {'max ms':>8} {'err':>4} {'drop':>4} "
        f"{'daphne cpu-s':>12} "
        f"{'pg+redis cpu-s':>14} {'client cpu-s':>12} {'daphne MiB':>10} {'steal %':>7}"
    )


def print_row(server: str, r: Result) -> None:
    print(
        f"{server:<9} {r.n:>5} {r.sent:>7} {r.acked:>7} {r.lost:>6} {r.offered_per_s:>9.1f} {r.served_per_s:>9.1f} "
        f"{r.ramp_s:>6.1f} {r.full_offered_per_s:>19.1f} {r.full_served_per_s:>8.1f} "
        f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.ramp_p99_ms:>7.0f} {r.full_p99_ms:>6.0f} {r.max_ms:>8.1f} "
        f"{r.errors:>4} {r.closed_early:>4} "
        f"{r.daphne_cpu:>12.1f} {r.services_cpu:>14.1f} {r.client_cpu:>12.1f} {r.peak_mib:>10.0f} "
        f"{r.steal_percent:>7.1f}",
        flush=True,
    )
    for reason, count in r.drop_reasons.most_common(3):
        print(f"          {count} socket(s) dropped: {reason}")


def print_comparison(invigil: list[Result], baseline: list[Result]) -> None:
    print("\nInvigil against the baseline (bare consumer: encrypt, append, fsync, acknowledge), same run:")
    print(
        f"{'N':>5} {'Invigil served/offered':>22} {'baseline':>8} {'at full load':>12} {'baseline':>8} "
        f"{'served ratio':>12} {'Invigil p99 ms':>14} {'baseline p99 ms':>15} {'p99 ratio':>9} "
        f"{'daphne cpu-s/chunk ratio':>24} {'all servers':>11}"
    )

    def per_chunk(r: Result, cpu: float) -> float:
        return cpu / max(r.acked, 1)

    for ours, base in zip(invigil, baseline, strict=True):
        ours_share, base_share = ours.served_per_s / ours.offered_per_s, base.served_per_s / base.offered_per_s
        ours_full = ours.full_served_per_s / max(ours.full_offered_per_s, 1e-9)
        base_full = base.full_served_per_s / max(base.full_offered_per_s, 1e-9)
        daphne_ratio = per_chunk(ours, ours.daphne_cpu) / max(per_chunk(base, base.daphne_cpu), 1e-9)
        all_ratio = per_chunk(ours, ours.daphne_cpu + ours.services_cpu) / max(
            per_chunk(base, base.daphne_cpu + base.services_cpu), 1e-9
        )
        print(
            f"{ours.n:>5} {ours_share:>22.2f} {base_share:>8.2f} {ours_full:>12.2f} {base_full:>8.2f} "
            f"{ours.served_per_s / base.served_per_s:>12.2f} {ours.p99_ms:>14.1f} {base.p99_ms:>15.1f} "
            f"{ours.p99_ms / base.p99_ms:>9.1f} {daphne_ratio:>24.1f} {all_ratio:>11.1f}",
            flush=True,
        )


def journal_less_ext4(path: str) -> bool:
    """Whether ``path`` is on an ext4 filesystem without a journal (as some virtual machines' disks are)."""
    st = os.stat(path)
    try:
        device = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve().name
    except OSError:
        return False
    journals = Path("/proc/fs/jbd2")
    has_journal = journals.is_dir() and any(p.name.startswith(f"{device}-") for p in journals.iterdir())
    return Path(f"/proc/fs/ext4/{device}").is_dir() and not has_journal


def settle(seconds: float | None, data_dir: str, began: float) -> None:
    """Wait, where media is on ext4 without a journal, until files deleted just before the run no longer slow
    the creation of new ones. Such a filesystem will not reuse an inode freed in the last minute (five, while
    its inode table is not yet written back) and scans past every one of them for each new file: right after
    `make test`, or a run that deleted its 60,000 chunk files, every chunk file created cost a scan, and the
    servers stalled (seen with perf: __ext4_new_inode, find_inode_bit, recently_deleted). A production media
    volume has a journal, which has no such wait."""
    if seconds is None:
        seconds = 90.0 if journal_less_ext4(data_dir) else 0.0
        if seconds:
            print(
                f"{data_dir} is on ext4 without a journal, which scans past inodes deleted in the last minute for "
                f"every file it creates: waiting until {seconds:g} s after the start (--settle 0 to skip)"
            )
    time.sleep(max(0.0, seconds - (time.monotonic() - began)))


def start_services(env: dict[str, str]) -> bool:
    """Throwaway PostgreSQL (fsync on) and Redis unless the environment names them; True when started here."""
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        env["DATABASE_URL"], env["REDIS_URL"] = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
        return False
    # Durable, as in production: a chunk's row is acknowledged only once PostgreSQL has it on disk.
    exports = subprocess.run(
        [str(ROOT / "scripts/services"), "start"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "INVIGIL_SERVICES_DURABLE": "1"},
    )
    for line in exports.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", default="200,500,1000", help="comma-separated N values")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each student streams")
    parser.add_argument("--chunk-seconds", type=float, default=2.0, help="MediaRecorder timeslice")
    parser.add_argument("--webcam-kbit", type=int, default=480, help="webcam+audio bitrate")
    parser.add_argument("--screen-kbit", type=int, default=160, help="screen bitrate")
    parser.add_argument("--servers", type=int, default=2, help="Daphne processes (each server)")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for acks after the last send")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-consumer baseline")
    parser.add_argument("--profile", metavar="FILE", help="cProfile Invigil's Daphne into FILE.<index>")
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds from the start before the first student streams (default: 90 where media is on ext4 "
        "without a journal, else 0)",
    )
    args = parser.parse_args()
    began = time.monotonic()
    counts = [int(v) for v in args.students.split(",")]

    data_dir = tempfile.mkdtemp(prefix="invigil-bench-")
    env = {
        "INVIGIL_DATA_DIR": data_dir,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # As in production: with DEBUG on, every connection keeps its last 9,000 queries' SQL in memory.
        "DEBUG": "false",
        "INVIGIL_KEYS": "bench:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMzI=",
    }  # a bench-only key
    own_services = start_services(env)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env={**os.environ, **env}, check=True
        )
        setup_django(env)
        print(
            f"Ingest benchmark: {args.servers} Daphne process(es) per server; Invigil on PostgreSQL and the Redis "
            f"channel layer, media fsynced to {data_dir}; {os.cpu_count()} cores shared with this load generator"
        )
        print(
            f"each student: webcam {args.webcam_kbit} kbit/s + screen {args.screen_kbit} kbit/s, one chunk per "
            f"stream every {args.chunk_seconds:g} s, for {args.seconds:g} s; lost = unacknowledged {args.drain:g} s "
            "after the last send"
        )
        settle(args.settle, data_dir, began)
        print_header()
        ports = [free_port() for _ in range(args.servers)]
        servers = start_servers(ports, env, "proctor.asgi:application", profile=args.profile)
        invigil: list[Result] = []
        for n in counts:
            students = create_students(n, run=f"{n}-{int(time.time())}")
            invigil.append(asyncio.run(drive(ports, students, args, [s.pid for s in servers])))
            print_row("Invigil", invigil[-1])
        stop_servers(servers)
        if args.no_baseline:
            return
        baseline_dir = tempfile.mkdtemp(prefix="baseline-", dir=data_dir)
        baseline_env = {"PYTHONPATH": str(ROOT / "bench"), "BASELINE_DATA_DIR": baseline_dir}
        ports = [free_port() for _ in range(args.servers)]
        servers = start_servers(ports, baseline_env, "ingest_baseline:application")
        baseline: list[Result] = []
        for n in counts:
            fake = [(f"baseline-{i}", "", "") for i in range(n)]  # the bare consumer ignores who is calling
            baseline.append(asyncio.run(drive(ports, fake, args, [s.pid for s in servers])))
            print_row("baseline", baseline[-1])
        print_comparison(invigil, baseline)
    finally:
        stop_servers(servers)
        if own_services:
            subprocess.run([str(ROOT / "scripts/services"), "stop"], check=False)
        subprocess.run(["rm", "-rf", data_dir], check=False)


if __name__ == "__main__":
    main()
