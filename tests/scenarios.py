"""Analysis scenarios with known ground truth: webcam recordings (640x480 VP8 at 15 fps with a keyframe
a second, Opus audio, as Chromium's MediaRecorder writes them) made from real face photos in
``../shared/fixtures/faces`` and one that ships in a package (matplotlib's sample photo of Grace
Hopper), with speech synthesised by espeak-ng.

Used by the analysis tests and by ``bench/analysis.py``. Recordings are cached under ``.cache/`` by a
hash of their description, because encoding them takes a while.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import wave
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from review.demo.media import Shot, room_noise, webcam_webm

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
CACHE = ROOT / ".cache" / "scenarios"
#: Bump when the recordings a description gives change (here or in review.demo.media), so the cache renews.
GENERATOR_VERSION = 3

#: The enrolled student: enrolment uses one photo, the webcam shows another photo of the same person.
ENROL_PHOTO = "obama.jpg"
STUDENT = "obama2.jpg"
OTHER_PERSON = "biden.jpg"
SECOND_PERSON = "john1.jpeg"
#: A real face that ships in a package, so part of the set needs no outside files.
HOPPER = "package:grace_hopper.jpg"

SENTENCES = [
    "The answer to question four is the second option.",
    "Can you tell me what you wrote for the integral?",
    "I think the derivative is two x plus three.",
    "Read me the next question please.",
]


@dataclass(frozen=True)
class Truth:
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float
    shots: tuple[Shot, ...]
    speech: tuple[tuple[float, float], ...] = ()
    truth: tuple[Truth, ...] = ()
    #: Steady background noise, dBFS.
    noise_db: float = -58.0
    description: str = ""
    enrol_photo: str = ENROL_PHOTO

    def key(self) -> str:
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alone(start: float, end: float) -> Shot:
    return Shot(start, end, (STUDENT,))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("clean", 180, (_alone(0, 180),), description="the enrolled student alone, silent"),
    Scenario(
        "nobody",
        180,
        (_alone(0, 50), Shot(50, 70, ()), _alone(70, 120), Shot(120, 127, ()), _alone(127, 180)),
        truth=(Truth("no_face", 50, 70), Truth("no_face", 120, 127)),
        description="the student leaves twice: 20 s and 7 s",
    ),
    Scenario(
        "second_face",
        180,
        (
            _alone(0, 40),
            Shot(40, 60, (STUDENT, SECOND_PERSON)),
            _alone(60, 130),
            Shot(130, 136, (STUDENT, SECOND_PERSON)),
            _alone(136, 180),
        ),
        truth=(Truth("multiple_faces", 40, 60), Truth("multiple_faces", 130, 136)),
        description="a second person joins twice: 20 s and 6 s",
    ),
    Scenario(
        "different_person",
        180,
        (_alone(0, 70), Shot(70, 100, (OTHER_PERSON,)), _alone(100, 180)),
        truth=(Truth("face_mismatch", 70, 100),),
        description="another person takes the seat for 30 s",
    ),
    Scenario(
        "speech",
        180,
        (_alone(0, 180),),
        speech=((40, 52), (110, 118)),
        truth=(Truth("speech", 40, 52), Truth("speech", 110, 118)),
        description="someone speaks twice: 12 s and 8 s",
    ),
    Scenario(
        "hopper_alone",
        120,
        (Shot(0, 120, (HOPPER,)),),
        enrol_photo=HOPPER,
        description="another enrolled student (a package-shipped photo) alone, silent",
    ),
    Scenario(
        "hopper_stand_in",
        150,
        (Shot(0, 60, (HOPPER,)), Shot(60, 85, ("john2.jpeg",)), Shot(85, 150, (HOPPER,))),
        truth=(Truth("face_mismatch", 60, 85),),
        enrol_photo=HOPPER,
        description="someone else sits in for the package-shipped student for 25 s",
    ),
    Scenario(
        "noisy_room",
        120,
        (_alone(0, 120),),
        noise_db=-20.0,
        description="the student alone with loud steady white noise (-20 dBFS), which is not speech",
    ),
)


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


@cache
def photo(name: str) -> np.ndarray:
    from PIL import Image

    if name.startswith("package:"):
        import matplotlib.cbook

        path = Path(matplotlib.cbook.get_sample_data(name.removeprefix("package:"), asfileobj=False))
    else:
        path = FACES / name
    return np.asarray(Image.open(path).convert("RGB"))


def speech_pcm(seconds: float, rate: int = 48_000) -> np.ndarray:
    """About ``seconds`` of speech at -20 dBFS from espeak-ng, as float samples."""
    pieces, total, index = [], 0, 0
    while total < seconds * rate:
        out = subprocess.run(
            ["espeak-ng", "--stdout", "-s", "150", SENTENCES[index % len(SENTENCES)]],
            check=True,
            capture_output=True,
        ).stdout
        with wave.open(io.BytesIO(out)) as wav:
            source_rate = wav.getframerate()
            data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        resampled = np.interp(np.arange(0, len(data), source_rate / rate), np.arange(len(data)), data)
        pieces += [resampled, np.zeros(int(0.3 * rate), np.float32)]
        total += len(resampled) + int(0.3 * rate)
        index += 1
    pcm = np.concatenate(pieces)[: int(seconds * rate)]
    voiced = pcm[np.abs(pcm) > 1e-3]
    return pcm * (10 ** (-20 / 20) / max(float(np.sqrt(np.mean(voiced**2))), 1e-6))


def render_audio(item: Scenario, rate: int = 48_000) -> np.ndarray:
    audio = room_noise(item.seconds, item.noise_db, rate)
    for start, end in item.speech:
        pcm = speech_pcm(end - start, rate)
        audio[int(start * rate) : int(start * rate) + len(pcm)] += pcm
    return np.clip(audio, -1, 1)


def encode(item: Scenario) -> bytes:
    """The scenario as a WebM file (VP8 500 kbit/s, keyframe every second; Opus mono 48 kHz)."""
    return webcam_webm(photo, item.shots, item.seconds, render_audio(item))


def recording(item: Scenario) -> bytes:
    """The scenario's WebM bytes, from the cache when they were made before."""
    path = CACHE / f"{item.name}-{item.key()}.webm"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".partial")
        temporary.write_bytes(encode(item))
        temporary.replace(path)
    return path.read_bytes()


def enrolled_template(enrol_photo: str = ENROL_PHOTO) -> np.ndarray:
    from identity.faces import face_template

    return face_template([photo(enrol_photo)] * 3)


def long_recording(minutes: int) -> Scenario:
    """A long exam for the benchmark: the student alone, with an event of each kind now and then."""
    seconds = minutes * 60
    shots, truth, speech = [], [], []
    t = 0.0
    cycle = 0
    while t < seconds:
        block = min(600.0, seconds - t)
        shots.append(Shot(t, t + block - 60, (STUDENT,)))
        if block >= 60:
            event = cycle % 4
            span = (t + block - 60, t + block - 45)
            if event == 0:
                shots.append(Shot(*span, ()))
                truth.append(Truth("no_face", *span))
            elif event == 1:
                shots.append(Shot(*span, (STUDENT, SECOND_PERSON)))
                truth.append(Truth("multiple_faces", *span))
            elif event == 2:
                shots.append(Shot(*span, (OTHER_PERSON,)))
                truth.append(Truth("face_mismatch", *span))
            else:
                shots.append(Shot(*span, (STUDENT,)))
                speech.append(span)
                truth.append(Truth("speech", *span))
            shots.append(Shot(span[1], t + block, (STUDENT,)))
        t += block
        cycle += 1
    return Scenario(
        f"exam_{minutes}min",
        seconds,
        tuple(shots),
        speech=tuple(speech),
        truth=tuple(truth),
        description=f"a {minutes}-minute exam with a 15-second event every 10 minutes",
    )
