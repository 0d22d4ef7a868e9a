"""The fixed cast of users and the world they live in.

Course A has an exam with two students' sessions, an instructor and a reviewer; course B has its own
instructor. Both courses belong to one institution, whose consent policy (version 1) applies to both
exams. The admin is a superuser; the outsider belongs to no course.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from exams.models import ConsentPolicy, Course, Exam, ExamSession, Role
from tests.factories import ConsentPolicyFactory, CourseFactory, ExamFactory, ExamSessionFactory, UserFactory, enrol
from tests.proctor.tamper import (
    audit_anchors_clear,
    audit_triggers_drop,
    audit_triggers_ensure,
    audit_triggers_present,
)

ROLES = ("student", "other_student", "instructor", "other_instructor", "reviewer", "admin", "outsider", "anonymous")


# Hypothesis judges examples, never the clock: its deadline and its "input generation is slow" health
# check are wall-clock checks, which fail on a loaded machine without anything being wrong.
hypothesis_settings.register_profile(
    "invigil", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("invigil")

#: Whether the freshly migrated test database had every append-only trigger (None until a test looks).
MIGRATED_TRIGGERS: bool | None = None


@pytest.fixture(autouse=True)
def _throttle_counts_start_at_zero() -> None:
    """Rate limits count in the cache (proctor/throttling.py); user ids recur between tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _audit_log_stays_append_only(request: pytest.FixtureRequest) -> Any:
    """Every test runs with the append-only triggers in place. Tests that commit (transactional ones,
    browser tests) end with pytest-django flushing every table, which the triggers would refuse, so
    they are lifted just for that flush and put back before the next test."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = bool(names & {"transactional_db", "live_server"} or (marker and marker.kwargs.get("transaction")))
    if not (marker or names & {"db", "transactional_db", "live_server"}):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    if MIGRATED_TRIGGERS is None:
        # What the migrations alone left, before any test put triggers back (test_audit checks it).
        globals()["MIGRATED_TRIGGERS"] = audit_triggers_present()
    audit_triggers_ensure()
    yield
    if transactional:
        audit_triggers_drop()
    # Head anchors live outside the database, so they outlive the test's rows; the next test's log
    # starts empty and must not be judged against them.
    audit_anchors_clear()


@pytest.fixture(autouse=True)
def _analysed_once_per_input(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The webcam detectors run once per distinct recording, template and start, and a face is
    encoded once per distinct picture, in this process (tests/analysed_once.py): the same input
    gives the same result, so the tests that repeat one share it. A test that watches what the
    detectors do inside (marked real_analysis) runs them itself."""
    if request.node.get_closest_marker("real_analysis"):
        return
    from analysis import pipeline
    from identity import faces
    from tests.analysed_once import analyse_webcam_once, face_encoding_once

    monkeypatch.setattr(pipeline, "analyse_webcam", analyse_webcam_once)
    monkeypatch.setattr(faces, "face_encoding", face_encoding_once)


#: The demo's recordings as encoded by the first test that needed them.
_DEMO_MEDIA: dict[str, Callable[[], bytes]] = {}


@pytest.fixture
def demo_media_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo attempt's webcam and screen recordings (review.demo.media) encoded once in this
    process: encoding them takes seconds of CPU and gives the same bytes every time."""
    from review.demo import media

    for name in ("demo_webcam_webm", "demo_screen_webm"):
        if name not in _DEMO_MEDIA:
            _DEMO_MEDIA[name] = cache(getattr(media, name))
        monkeypatch.setattr(media, name, _DEMO_MEDIA[name])


@dataclass
class World:
    course: Course
    other_course: Course
    exam: Exam
    other_exam: Exam
    #: The institution-wide consent policy in effect for both exams.
    policy: ConsentPolicy
    session: ExamSession
    other_session: ExamSession
    users: dict[str, Any]


@pytest.fixture
def world(db: None) -> World:
    course = CourseFactory(code="PHYS101")
    other_course = CourseFactory(code="CHEM201", institution=course.institution)
    users = {
        "student": UserFactory(username="student"),
        "other_student": UserFactory(username="other_student"),
        "instructor": UserFactory(username="instructor"),
        "other_instructor": UserFactory(username="other_instructor"),
        "reviewer": UserFactory(username="reviewer"),
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
        "outsider": UserFactory(username="outsider"),
        "anonymous": None,
    }
    enrol(users["student"], course, Role.STUDENT)
    enrol(users["other_student"], course, Role.STUDENT)
    enrol(users["instructor"], course, Role.INSTRUCTOR)
    enrol(users["reviewer"], course, Role.REVIEWER)
    enrol(users["other_instructor"], other_course, Role.INSTRUCTOR)
    policy = ConsentPolicyFactory(institution=course.institution, version=1)
    exam = ExamFactory(course=course, title="Midterm")
    other_exam = ExamFactory(course=other_course, title="Final")
    return World(
        course=course,
        other_course=other_course,
        exam=exam,
        other_exam=other_exam,
        policy=policy,
        session=ExamSessionFactory(exam=exam, student=users["student"]),
        other_session=ExamSessionFactory(exam=exam, student=users["other_student"]),
        users=users,
    )


@pytest.fixture
def student(world: World) -> Any:
    return world.users["student"]


@pytest.fixture
def instructor(world: World) -> Any:
    return world.users["instructor"]


@pytest.fixture
def admin_user(world: World) -> Any:
    return world.users["admin"]


def client_as(world: World, role: str, *, address: str = "127.0.0.1") -> Any:
    """A test client signed in as one of the cast (none for "anonymous"), from ``address``."""
    from django.test import Client

    client = Client(REMOTE_ADDR=address)
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


def agree_to_face_matching(user: Any) -> None:
    """The student agrees to the face-matching notice in effect, as the exam page lets them."""
    from identity.consent import biometric_notice_current
    from identity.services import biometric_consent_answer

    notice = biometric_notice_current()
    assert notice is not None, "the first face-matching notice comes with the migrations"
    biometric_consent_answer(user=user, notice_version=notice.version, agreed=True)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a server process (Celery worker, Daphne) that shares this run's test database,
    data folder, keys, key store and broker."""
    import os

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "INVIGIL_DATA_DIR": str(settings.DATA_DIR),
        "INVIGIL_KEYSTORE_DIR": str(settings.INVIGIL_KEYSTORE_DIR),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_celery_worker(name: str, *, queues: str = "celery,analysis", **extra_env: str) -> Any:
    """A real Celery worker in its own process, on the configured broker (files or Redis) and the
    test database, started and ready. Call from inside ``django_db_blocker.unblock()`` or a db test."""
    import subprocess
    import sys
    import time

    from django.conf import settings

    log = Path(settings.DATA_DIR) / f"{name}.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "proctor",
                "worker",
                "--pool=solo",
                "-n",
                f"{name}@%h",
                "-Q",
                queues,
                "-l",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            env=subprocess_env(**extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError(f"The Celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    worker.log = log
    return worker


def stop_celery_worker(worker: Any) -> None:
    import subprocess

    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, django_db_blocker: Any) -> Any:
    """A real Celery worker for the whole run. Tests that use it must commit their data (transactional_db)."""
    with django_db_blocker.unblock():
        worker = start_celery_worker("celery-worker")
    yield worker
    stop_celery_worker(worker)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real S3 endpoint (moto's server, signatures checked) for the whole run; see tests/s3.py."""
    from tests.s3 import s3_server_start, s3_server_stop

    server = s3_server_start(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    s3_server_stop(server)


@pytest.fixture
def s3_media(s3_server: Any, settings: Any) -> Any:
    """This test's media and audit anchors in the S3 server's buckets, under prefixes of its own."""
    from tests.s3 import s3_media_configure

    return s3_media_configure(settings, s3_server)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def chromium() -> Any:
    """Debian's Chromium driven by Playwright (no browser download). Module-scoped: Playwright's sync
    API runs an event loop on the main thread while it lives, which async tests elsewhere must not meet."""
    import os

    from playwright.sync_api import sync_playwright

    # The ORM calls that tests make between browser steps are plain synchronous calls, even though
    # Playwright's loop is running on this thread.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Any:
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ for a person to look at."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def _close_other_database_sessions_at_the_end(django_db_setup: None, django_db_blocker: Any) -> Any:
    """Channels and asgiref run ORM calls on pool threads whose connections outlive the tests;
    end them before pytest-django drops the test database (PostgreSQL refuses while any is open)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class AsgiServer:
    """Daphne serving proctor.asgi on a free port, against the test database, restartable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.env, self.log = env, log
        self.process: Any = None
        self.url = f"http://localhost:{self.port}"

    def start(self) -> None:
        import socket
        import subprocess
        import sys
        import time

        daphne = str(Path(sys.executable).parent / "daphne")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [daphne, "-b", "127.0.0.1", "-p", str(self.port), "proctor.asgi:application"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Daphne did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
            database_quiet()


def database_quiet(timeout: float = 10.0) -> None:
    """Wait until no other session of the test database is in a statement or a transaction.

    PostgreSQL notices that a killed server's connection is gone only when that session next talks to it:
    a batch of chunks that was being committed holds its row and table locks until then. The flush at the
    end of a test (TRUNCATE of every table) that met such a session deadlocked with it (seen once in the
    suite). In a moment, each such session finishes its statement, finds no one to answer, and rolls back.
    """
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction', "
                "'idle in transaction (aborted)')"
            )
            (busy,) = cursor.fetchone()
        if not busy:
            return
        time.sleep(0.05)


@pytest.fixture
def asgi_server(transactional_db: None, django_db_blocker: Any) -> Any:
    """The real ASGI stack (HTTP and WebSockets) in its own process; tests commit their data."""

    from django.conf import settings

    env = subprocess_env(LOG_LEVEL="WARNING")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = AsgiServer(env, Path(settings.DATA_DIR) / "daphne.log")
    server.start()
    yield server
    server.stop()


FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"


@pytest.fixture(scope="module")
def fake_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A webcam video of a real face (../shared/fixtures/faces) and a microphone tone for Chromium."""
    from tests.media import write_wav, write_y4m

    folder = tmp_path_factory.mktemp("fake-media")
    video, audio = str(folder / "face.y4m"), str(folder / "tone.wav")
    write_y4m(video, str(FACES / "obama.jpg"))
    write_wav(audio)
    return {"video": video, "audio": audio}


@pytest.fixture
def media_page(fake_media: dict[str, str]) -> Any:
    """A Chromium page whose webcam, microphone and entire screen are fakes that really record."""
    import os

    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_media['video']}",
        f"--use-file-for-fake-audio-capture={fake_media['audio']}",
        "--auto-select-desktop-capture-source=Entire screen",
        "--autoplay-policy=no-user-gesture-required",
    ]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("dialog", lambda dialog: dialog.accept())
            yield page
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def audit_added_since(count: int) -> list[tuple[str, str]]:
    """(action, outcome) of each audit entry written after the first ``count``."""
    from proctor.models import AuditEvent

    return list(AuditEvent.objects.filter(seq__gt=count).order_by("seq").values_list("action", "outcome"))


REFUSAL = [("access.refused", "refused")]


def refusals_expected(role: str) -> list[tuple[str, str]]:
    """What a refused request leaves in the audit log: one refusal entry, except for the anonymous,
    who are sent to sign in before any rule is asked."""
    return [] if role == "anonymous" else REFUSAL


#: The roles that may review a session, and so state a purpose for it.
PURPOSEFUL = frozenset({"instructor", "reviewer", "admin"})


def state_purpose(client: Any, session: Any, *, kind: str = "second_review", **fields: str) -> Any:
    """Say why this client needs the session, as a reviewer does before its recordings open
    (review.access); the client signed in moments ago, so no password is asked."""
    from django.urls import reverse

    response = client.post(reverse("review_session_access", args=[session.pk]), {"kind": kind, **fields})
    assert response.status_code == 302, response.content[:500]
    return response
