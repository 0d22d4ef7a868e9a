"""Proof that nothing readable is stored: after a whole exam (enrolment with a real face, photo ID,
webcam and screen streamed over the recording socket, browser signals, submit, finalisation,
playback copies, analysis with evidence pictures, review), every stored file and every row of every
database table is searched for the media, photos, face template and keys that went in, and none is
found; media kept on an S3 server are searched in every version the bucket holds. Control tests show
the same search finds each of them when one does leak."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import time_machine
from asgiref.sync import async_to_sync
from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from analysis.models import Flag
from analysis.tasks import analyse_ahead, analyse_session
from exams.models import ExamSession, SessionStatus
from identity import faces
from identity.models import IdentityProfile
from identity.services import identity_enrol, template_open
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keys import data_key_create, data_key_material, keyring, keystore
from proctor.keystore import period_key_label
from proctor.models import DataKey
from recordings import protocol
from recordings.models import Recording, RecordingChunk
from recordings.services import chunk_asks_analysis_ahead
from recordings.tasks import recording_playback_copy
from review.demo.media import CHUNK_SECONDS, chunked
from tests import scenarios
from tests.analysis.conftest import jpeg
from tests.conftest import World, agree_to_face_matching, client_as, state_purpose
from tests.factories import ExamFactory, QuestionFactory
from tests.media import make_webm
from tests.recordings.test_consumer import connect
from tests.s3 import MEDIA_BUCKET, S3Media, s3_media_configure

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # the EBML magic every WebM file starts with
JPEG_MAGIC = b"\xff\xd8\xff"  # start of image, then the first marker
#: The webcam: the student alone, away twice (20 s and 7 s), microphone included (cached; see tests/scenarios.py).
WEBCAM = scenarios.scenario("nobody")
SECONDS = WEBCAM.seconds
#: Browser signals: kind and seconds into the attempt. The hidden tab gets a picture of the screen.
SIGNALS = (("tab_hidden", 100.0), ("tab_visible", 110.0))
#: The tasks that finishing an attempt queues, by name, as a worker finds them.
WORKER_TASKS = {task.name: task for task in (recording_playback_copy, analyse_session, analyse_ahead)}


# --- The search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """Bytes that must never be stored as they are; ``what`` says which, for the failure message.
    ``shared``: the same in every file of its kind (a WebM or JPEG header), not this exam's own."""

    what: str
    data: bytes
    shared: bool = False


def _base64_inside(data: bytes, encode: Callable[[bytes], bytes]) -> list[bytes]:
    """The base64 text that ``data`` becomes inside any longer base64 text: one form for each of the
    three alignments, without the characters that depend on the bytes around it."""
    forms = []
    for shift in range(3):
        text = encode(bytes(shift) + data)
        forms.append(text[4 if shift else 0 : (shift + len(data)) // 3 * 4])
    return forms


def written_forms(secret: Secret) -> list[Secret]:
    """The secret as bytes, as hex and as base64 (both alphabets), as a row or a file might hold it."""
    forms = {
        "": secret.data,
        " as hex": secret.data.hex().encode(),
        " as HEX": secret.data.hex().upper().encode(),
    }
    for alphabet, encode in (("base64", base64.b64encode), ("url-safe base64", base64.urlsafe_b64encode)):
        for shift, text in enumerate(_base64_inside(secret.data, encode)):
            forms.setdefault(f" as {alphabet} (alignment {shift})", text)
    return [Secret(secret.what + how, data, secret.shared) for how, data in forms.items()]


class Scanner:
    """Finds any of many secrets (8 bytes or longer) in bytes at once: every 8-byte window of the data
    is looked up among the secrets' first 8 bytes, and only the windows that match are compared in full."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self.by_prefix: dict[int, list[Secret]] = {}
        for secret in secrets:
            assert len(secret.data) >= 8, secret.what
            self.by_prefix.setdefault(int.from_bytes(secret.data[:8], "little"), []).append(secret)
        self.prefixes = np.array(sorted(self.by_prefix), dtype=np.uint64)

    def find(self, data: bytes) -> list[str]:
        found: list[str] = []
        for offset in range(min(8, len(data) - 7)):
            words = np.frombuffer(data, dtype="<u8", count=(len(data) - offset) // 8, offset=offset)
            slots = np.minimum(np.searchsorted(self.prefixes, words), len(self.prefixes) - 1)
            for index in np.flatnonzero(self.prefixes[slots] == words):
                position = offset + 8 * int(index)
                found += [s.what for s in self.by_prefix[int(words[index])] if data.startswith(s.data, position)]
        return sorted(set(found))


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def database_values() -> Iterator[tuple[str, str, bytes]]:
    """Every non-null value of every column of every table, read with plain SQL: tables without a
    model (or whose model hides a column) are read too."""
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            # Table names come from the database's own catalogue, quoted; nothing here is user input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield table, column, as_bytes(value)


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def leaks_in_storage(scanner: Scanner, stored: Iterable[tuple[str, bytes]]) -> list[str]:
    """What every stored media file gives away: a file that starts as a WebM or a JPEG does, and so
    does any secret anywhere in a file. (The 4-byte magic alone is only looked for at the start:
    somewhere in tens of megabytes of ciphertext it turns up by chance about once in 170 runs; the
    whole WebM header, a secret here, is looked for everywhere.)"""
    leaks = []
    for name, data in stored:
        if data.startswith(WEBM_MAGIC):
            leaks.append(f"file {name}: starts as a WebM file")
        if data.startswith(JPEG_MAGIC):
            leaks.append(f"file {name}: starts as a JPEG picture")
        leaks += [f"file {name}: {what}" for what in scanner.find(data)]
    return leaks


def leaks_in_database(scanner: Scanner) -> list[str]:
    leaks = []
    for table, column, data in database_values():
        if WEBM_MAGIC in data:
            leaks.append(f"{table}.{column}: holds the WebM magic")
        if data.startswith(JPEG_MAGIC):
            leaks.append(f"{table}.{column}: starts as a JPEG picture")
        leaks += [f"{table}.{column}: {what}" for what in scanner.find(data)]
    return leaks


# --- What went in ----------------------------------------------------------------------------------


def distinctive_slice(data: bytes, size: int = 64) -> bytes:
    """``size`` bytes from the middle of ``data`` that vary enough never to turn up by chance."""
    middle = len(data) // 2
    for start in [*range(middle, len(data) - size, 8), *range(0, middle, 8)]:
        piece = data[start : start + size]
        if len(set(piece)) >= size // 2:
            return piece
    raise AssertionError(f"{len(data)} bytes hold no distinctive {size}-byte slice")


def ebml_header(webm: bytes) -> bytes:
    """The EBML header element a WebM file begins with: the magic, its size (a variable-length
    integer), and the header itself (versions and the "webm" document type)."""
    assert webm.startswith(WEBM_MAGIC)
    width = 9 - webm[4].bit_length()
    size = int.from_bytes(webm[4 : 4 + width], "big") & ((1 << (7 * width)) - 1)
    return webm[: 4 + width + size]


def media_secrets(name: str, data: bytes) -> list[Secret]:
    """A plaintext media file or picture: its header, and a slice of its middle."""
    header = ebml_header(data) if data.startswith(WEBM_MAGIC) else data[:20]
    return [
        Secret(f"{name} (its header)", header, shared=True),
        Secret(f"{name} (64 bytes of its middle)", distinctive_slice(data)),
    ]


def template_secrets(name: str, template: np.ndarray) -> list[Secret]:
    """A face template as stored bytes (float64, as identity.faces writes it, and float32), in 64-byte
    pieces, and its numbers as text at full precision (as JSON would write them)."""
    secrets = []
    for dtype in ("<f8", "<f4"):
        raw = np.asarray(template, dtype=dtype).tobytes()
        secrets += [Secret(f"{name} ({dtype} bytes {i}-{i + 64})", raw[i : i + 64]) for i in range(0, len(raw), 64)]
    numbers = [json.dumps(float(x)) for x in template]
    return secrets + [Secret(f"{name} (number {i} as text)", n.encode()) for i, n in enumerate(numbers) if len(n) >= 8]


def key_secrets() -> list[Secret]:
    """Every live data key, unwrapped, every retention-period key, unwrapped, and every key-encryption key."""
    live = DataKey.objects.filter(wrapped__isnull=False)
    keys = [Secret(f"{k.purpose} data key {k.pk}", data_key_material(k)) for k in live]
    store = keystore()
    for period in store.periods():
        sealed = (store.directory / f"{period.replace(':', '-')}.key").read_bytes()
        keys.append(Secret(f"retention-period key {period}", keyring().unwrap(sealed, label=period_key_label(period))))
    return keys + [Secret(f"key-encryption key {kid}", kek) for kid, kek in settings.INVIGIL_KEYS]


def scanner_for(secrets: Iterable[Secret]) -> Scanner:
    return Scanner(form for secret in secrets for form in written_forms(secret))


class MediaStore:
    """Where this test's media go, and every stored file (name and bytes) read back from there."""

    def __init__(self, *, root: Path | None = None, bucket: S3Media | None = None) -> None:
        self.root, self.bucket = root, bucket

    def files(self) -> list[tuple[str, bytes]]:
        if self.bucket is not None:
            # Every version of every object: what a versioned bucket keeps is stored all the same.
            return list(self.bucket.media_objects())
        assert self.root is not None
        return [(path.relative_to(self.root).as_posix(), path.read_bytes()) for path in files_under(self.root)]


def media_store_in(kind: str, request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> MediaStore:
    """The media storage of this test alone, so "every stored file" means this test's files and no
    other test's: a folder of its own, or a prefix of its own in the S3 server's versioned bucket."""
    if kind == "s3":
        return MediaStore(bucket=s3_media_configure(settings, request.getfixturevalue("s3_server")))
    root = tmp_path / "media"
    media = settings.STORAGES["default"]
    assert media["BACKEND"] == "proctor.storage.DurableFileSystemStorage", "the scan reads the files directly"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**media, "OPTIONS": {**media["OPTIONS"], "location": str(root)}},
    }
    settings.MEDIA_ROOT = root
    return MediaStore(root=root)


@pytest.fixture(params=["filesystem", "s3"])
def media_store(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> MediaStore:
    return media_store_in(request.param, request, settings, tmp_path)


@pytest.fixture
def exam_media_store(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> MediaStore:
    """The whole exam's media store: the S3 server on the PostgreSQL pass, the production pass, as a
    multi-machine install keeps them, and files on the embedded pass. One whole exam per pass, not
    two, keeps the suite's time; the control tests search both kinds of store on every pass."""
    kind = "s3" if connection.vendor == "postgresql" else "filesystem"
    return media_store_in(kind, request, settings, tmp_path)


# --- A whole exam ----------------------------------------------------------------------------------


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def stream(
    world: World, session: ExamSession, *, token: str, streams: dict[str, list[bytes]], began: datetime, seqs: range
) -> None:
    """One connection of the exam page's recording socket: start both streams, then send their chunks
    in turn, each with the browser's time, and each browser signal when its moment comes."""
    communicator, connected = await connect(world, token=token, session=session)
    assert connected
    for kind in streams:
        await communicator.send_json_to({"type": "start", "stream": kind, "mime": "video/webm;codecs=vp8,opus"})
        started = await communicator.receive_json_from(timeout=10)
        assert started["stored_chunks"] == seqs.start, started
    for seq in seqs:
        at = began + timedelta(seconds=seq * CHUNK_SECONDS)
        for kind, pieces in streams.items():
            frame = protocol.chunk_frame_build(stream=kind, seq=seq, data=pieces[seq], client_ms=ms(at))
            await communicator.send_to(bytes_data=frame)
            ack = await communicator.receive_json_from(timeout=10)
            assert (ack["type"], ack.get("outcome")) == ("ack", "stored"), ack
        for kind, second in SIGNALS:
            if at <= began + timedelta(seconds=second) < at + timedelta(seconds=CHUNK_SECONDS):
                client_time = ms(began + timedelta(seconds=second))
                await communicator.send_json_to({"type": "signal", "kind": kind, "client_time": client_time})
                assert (await communicator.receive_json_from(timeout=10))["type"] == "signal_ack"
    await communicator.disconnect()


@dataclass
class TakenExam:
    session: ExamSession
    #: Everything readable that went in or came out, as secrets to look for.
    plaintext: list[Secret]
    #: Whole plaintext files: the first chunk of each stream, the playback copies, the pictures.
    files: dict[str, bytes]
    chunks: int


def take_the_exam(world: World, monkeypatch: pytest.MonkeyPatch) -> TakenExam:
    """A student takes an exam from the lobby to the reviewer's verdict, through the pages, the JSON
    endpoints and the recording socket the exam page uses; the Celery tasks that finalisation queues
    run as a worker would run them."""
    queued: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args: queued.append((name, args)))
    # As in production: the webcam's chunks nudge the analysis ahead (the stretches are scanned too).
    monkeypatch.setattr(settings, "INVIGIL_ANALYSE_AHEAD_CHUNKS", 20)
    student = client_as(world, "student")
    exam: Any = ExamFactory(course=world.course, title="Final exam")
    question: Any = QuestionFactory(exam=exam, prompt="Explain the second law.")
    webcam, screen = scenarios.recording(WEBCAM), make_webm(seconds=SECONDS, fps=2, audio=False)
    photos = {
        "enrolment photo": jpeg(scenarios.ENROL_PHOTO),
        "photo ID": jpeg("obama_partial_face.jpg"),
        "identity check photo": jpeg(scenarios.STUDENT),
    }

    opened = student.post(reverse("exam_open", args=[exam.pk]))
    session = ExamSession.objects.get(exam=exam, student=world.users["student"])
    assert opened.url == reverse("session_consent", args=[session.pk])
    page = student.get(reverse("session_consent", args=[session.pk])).content.decode()
    # What the page's form sends: its hidden fields (the policy version the student read) and the tick.
    consent = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)) | {"agree": "on"}
    assert student.post(reverse("session_consent", args=[session.pk]), consent).status_code == 302
    agreement = {"version": 1, "agreed": True}
    assert (
        student.post(reverse("api_identity_face_matching"), agreement, content_type="application/json").status_code
        == 200
    )
    frames = [upload("frame.jpg", photos["enrolment photo"]) for _ in range(3)]
    assert student.post(reverse("api_identity_enrol"), {"frames": frames}).status_code == 200
    check = {"reference": str(session.pk), "frame": upload("check.jpg", photos["identity check photo"])}
    verified = student.post(reverse("api_identity_verify"), check).json()
    assert verified["matched"], verified
    # A photo ID stored before the match would be destroyed by it; one stored after stays for a person.
    id_photo = {"photo": upload("id.jpg", photos["photo ID"])}
    assert student.post(reverse("api_identity_id_photo"), id_photo).status_code == 200
    results = {"camera": "ok", "microphone": "ok", "screen": "monitor", "upload_kbit": 4000}
    checked = student.post(
        reverse("api_session_check", args=[session.pk]),
        {**results, "identity": verified["attestation"]},
        content_type="application/json",
    )
    assert checked.status_code == 200, checked.content
    assert student.post(reverse("api_session_begin", args=[session.pk])).json()["status"] == SessionStatus.STARTED
    answer = {"question": question.pk, "text": "Entropy never decreases."}
    assert student.post(reverse("api_session_answer", args=[session.pk]), answer).status_code == 200

    session.refresh_from_db()
    began = session.started_at
    assert began is not None
    token = student.post(reverse("api_stream_token", args=[session.pk])).json()["token"]
    streams = {"webcam": chunked(webcam, SECONDS), "screen": chunked(screen, SECONDS)}
    count = len(streams["webcam"])
    # Two connections, as after a dropped network: the second carries on where the first stopped.
    async_to_sync(stream)(world, session, token=token, streams=streams, began=began, seqs=range(count // 2))
    async_to_sync(stream)(world, session, token=token, streams=streams, began=began, seqs=range(count // 2, count))

    with time_machine.travel(began + timedelta(seconds=SECONDS + 1)):
        submitted = student.post(reverse("api_session_submit", args=[session.pk]))
        assert submitted.json()["status"] == SessionStatus.SUBMITTED
        assert student.post(reverse("api_recordings_finalise", args=[session.pk])).json()["finalised"] == 2
        # Every twentieth webcam chunk, from the session's own place in the cycle on, asked for the analysis
        # ahead (two or three times in sixty chunks); the worker runs those first.
        webcam_recording = Recording.objects.get(session=session, kind="webcam")
        asks = [seq for seq in range(count) if chunk_asks_analysis_ahead(webcam_recording, seq)]
        assert len(asks) in (2, 3)
        assert sorted(name for name, _ in queued) == [
            *["analysis.analyse_ahead"] * len(asks),
            "analysis.analyse_session",
            "recordings.make_playback_copy",
            "recordings.make_playback_copy",
        ]
        for name, args in sorted(queued, key=lambda task: task[0] == "analysis.analyse_session"):
            WORKER_TASKS[name].apply(args=tuple(args)).get()
        session.refresh_from_db()
        assert session.status == SessionStatus.READY_FOR_REVIEW

        reviewer = client_as(world, "reviewer")
        state_purpose(reviewer, session)
        assert reviewer.get(reverse("review_session", args=[session.pk])).status_code == 200
        played = {}
        for recording in Recording.objects.filter(session=session):
            response = reviewer.get(reverse("recording_playback", args=[recording.pk]))
            assert response.status_code == 200
            played[f"{recording.kind} playback copy"] = response.getvalue()
        pictures = {}
        for flag in Flag.objects.filter(session=session, evidence_thumbnail__isnull=False):
            pictures[f"evidence picture of the {flag.kind} flag"] = reviewer.get(
                reverse("flag_thumbnail", args=[flag.pk])
            ).content
        first = Flag.objects.filter(session=session).first()
        assert first is not None
        decided = reviewer.post(reverse("flag_decision", args=[first.pk]), {"verdict": "dismissed", "note": "Fine."})
        assert decided.status_code == 302

    plaintext = [
        secret
        for kind, pieces in streams.items()
        for seq, piece in enumerate(pieces)
        for secret in media_secrets(f"{kind} chunk {seq}", piece)
    ]
    for name, data in {**played, **pictures, **photos}.items():
        plaintext += media_secrets(name, data)
    profile = IdentityProfile.objects.select_related("data_key").get(user=world.users["student"])
    plaintext += template_secrets("the face template", template_open(profile))
    files = {f"{kind} chunk 0": pieces[0] for kind, pieces in streams.items()} | played | pictures | photos
    return TakenExam(session, plaintext, files, chunks=sum(len(pieces) for pieces in streams.values()))


@pytest.mark.django_db(transaction=True)  # the socket and the identity endpoints work on their own connections
def test_after_a_whole_exam_no_stored_file_or_row_holds_plaintext_media_a_photo_a_template_or_a_key(
    world: World, exam_media_store: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = Path(settings.DATA_DIR)
    before = {path: path.stat().st_mtime_ns for path in files_under(data_dir)}
    exam = take_the_exam(world, monkeypatch)

    # The exam stored what this proof is about, and what went in really holds the bytes looked for.
    flags = Flag.objects.filter(session=exam.session).select_related("evidence_recording")
    evidence = {(f.kind, f.evidence_recording.kind) for f in flags if f.evidence_thumbnail and f.evidence_recording}
    assert {("no_face", "webcam"), ("tab_hidden", "screen")} <= evidence
    for what, data in exam.files.items():
        assert data.startswith(WEBM_MAGIC if "chunk" in what or "playback" in what else JPEG_MAGIC), what
    keys = key_secrets()
    assert {k.what.split()[0] for k in keys} == {"recording", "identity", "retention-period", "key-encryption"}
    assert all(len(k.data) == 32 for k in keys)
    scanner = scanner_for([*exam.plaintext, *keys])
    for what, data in exam.files.items():
        assert {f"{what} (its header)", f"{what} (64 bytes of its middle)"} <= set(scanner.find(data)), what
    # Every file the exam stored is there to be read, and every table with a row about it.
    profile = IdentityProfile.objects.get(user=exam.session.student)
    expected = [
        *RecordingChunk.objects.filter(recording__session=exam.session).values_list("storage_name", flat=True),
        *Recording.objects.filter(session=exam.session).values_list("playback_name", flat=True),
        profile.id_photo_name,
    ]
    assert len(expected) == exam.chunks + 3
    stored = exam_media_store.files()
    assert set(expected) <= {name for name, _ in stored}
    tables = set(connection.introspection.table_names())
    assert {m._meta.db_table for m in apps.get_models(include_auto_created=True)} <= tables
    read = {table for table, _, _ in database_values()}
    assert read >= {"recordings_recordingchunk", "analysis_flag", "identity_identityprofile", "proctor_datakey"}
    assert read >= {"proctor_auditevent", "review_flagdecision", "exams_answer", "django_session"}

    assert leaks_in_storage(scanner, stored) == []
    assert leaks_in_database(scanner) == []
    # Anything else the run wrote, the SQLite database file included (deleted rows linger in its free
    # pages): only this exam's own plaintext and keys count here, as other tests share the folder.
    own = scanner_for([secret for secret in [*exam.plaintext, *keys] if not secret.shared])
    changed = [p for p in files_under(data_dir) if before.get(p) != p.stat().st_mtime_ns]
    assert [f"{path}: {what}" for path in changed for what in own.find(read_elsewhere(path))] == []


def read_elsewhere(path: Path) -> bytes:
    """A file's bytes, read by a child process. Closing any descriptor of the SQLite file (or its -wal
    or -shm) in this process would drop every POSIX lock this process's open connections hold on it:
    the Celery worker then takes itself for the last connection, checkpoints and deletes the WAL under
    us, and the two processes stop seeing each other's writes (the audit-chain worker test timed out,
    then later tests failed with "disk I/O error"). A backup or VACUUM INTO would lose the free pages
    this scan is after."""
    return subprocess.run(["cat", "--", str(path)], check=True, capture_output=True).stdout


# --- The search is not blind -----------------------------------------------------------------------


@pytest.fixture
def leaked() -> dict[str, Any]:
    """A short recording whose first chunk, and a picture, are about to leak (not the exam's media:
    what a control test leaves behind in the database file must not look like a leak of the exam's)."""
    webm = make_webm(seconds=1.0, width=160, height=120)
    return {"chunk": chunked(webm, 1.0)[0], "picture": jpeg("biden.jpg")}


def chunk_scanner(leaked: dict[str, Any]) -> Scanner:
    return scanner_for([*media_secrets("chunk 0", leaked["chunk"]), *media_secrets("picture", leaked["picture"])])


def test_the_search_finds_plaintext_media_and_pictures_in_a_stored_file(
    world: World, media_store: MediaStore, leaked: dict[str, Any]
) -> None:
    assert leaks_in_storage(chunk_scanner(leaked), media_store.files()) == []  # an empty storage gives nothing away
    default_storage.save("recordings/leak/00000000.sealed", ContentFile(leaked["chunk"]))
    default_storage.save("identity/leak/id-photo.sealed", ContentFile(leaked["picture"]))
    default_storage.save("recordings/leak/inside.sealed", ContentFile(os.urandom(999) + leaked["chunk"][50:]))
    if media_store.bucket is not None:
        # A newer version hides the leak from a plain read, but the bucket still keeps it.
        key = f"{media_store.bucket.prefix}/identity/leak/id-photo.sealed"
        media_store.bucket.server.admin.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=os.urandom(999))

    leaks = leaks_in_storage(chunk_scanner(leaked), media_store.files())

    assert "file recordings/leak/00000000.sealed: starts as a WebM file" in leaks
    assert "file recordings/leak/00000000.sealed: chunk 0 (its header)" in leaks
    assert "file identity/leak/id-photo.sealed: starts as a JPEG picture" in leaks
    assert "file identity/leak/id-photo.sealed: picture (64 bytes of its middle)" in leaks
    assert "file recordings/leak/inside.sealed: chunk 0 (64 bytes of its middle)" in leaks


def test_the_search_finds_plaintext_media_in_a_table_that_no_model_knows(world: World, leaked: dict[str, Any]) -> None:
    binary = "bytea" if connection.vendor == "postgresql" else "blob"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE leak_scratch (id integer PRIMARY KEY, payload {binary})")
        cursor.execute("INSERT INTO leak_scratch (id, payload) VALUES (1, %s)", [leaked["chunk"]])

    leaks = leaks_in_database(chunk_scanner(leaked))

    assert "leak_scratch.payload: holds the WebM magic" in leaks
    assert "leak_scratch.payload: chunk 0 (64 bytes of its middle)" in leaks


def test_the_search_finds_a_data_key_written_as_hex_or_base64_and_a_picture_in_a_binary_column(
    world: World, leaked: dict[str, Any]
) -> None:
    key = data_key_create(purpose="recording", due_at=None)
    material = data_key_material(key)
    scanner = scanner_for([*key_secrets(), *media_secrets("picture", leaked["picture"])])
    assert leaks_in_database(scanner) == []  # wrapped, the key gives nothing away

    audit_record(
        actor=None,
        action=AuditAction.KEYS_ROTATE,
        detail={"key": material.hex(), "copy": base64.b64encode(material).decode()},
    )
    signal = {"note": base64.b64encode(b"\x00" + material).decode()}  # inside a longer text, off alignment
    world.session.browser_signals.create(kind="copy", client_time=world.session.created_at, detail=signal)
    IdentityProfile.objects.create(user=world.users["student"], data_key=key, template_sealed=leaked["picture"])

    leaks = leaks_in_database(scanner)

    what = f"recording data key {key.pk}"
    assert f"proctor_auditevent.detail: {what} as hex" in leaks
    assert f"proctor_auditevent.detail: {what} as base64 (alignment 0)" in leaks
    assert f"recordings_browsersignal.detail: {what} as base64 (alignment 1)" in leaks
    assert "identity_identityprofile.template_sealed: starts as a JPEG picture" in leaks


def test_the_search_finds_a_face_template_stored_unsealed(world: World) -> None:
    student = world.users["student"]
    agree_to_face_matching(student)
    profile = identity_enrol(user=student, frames=[jpeg(scenarios.OTHER_PERSON)] * 3)
    template = template_open(profile)
    scanner = scanner_for(template_secrets("the face template", template))
    assert leaks_in_database(scanner) == []  # sealed, it gives nothing away

    IdentityProfile.objects.filter(pk=profile.pk).update(template_sealed=faces.template_to_bytes(template))
    unsealed = leaks_in_database(scanner)
    IdentityProfile.objects.filter(pk=profile.pk).update(template_sealed=json.dumps(template.tolist()).encode())
    as_json = leaks_in_database(scanner)

    assert "identity_identityprofile.template_sealed: the face template (<f8 bytes 512-576)" in unsealed
    numbers = [leak for leak in as_json if leak.endswith("as text)")]
    assert len(numbers) == sum(len(json.dumps(float(x))) >= 8 for x in template) > 100
