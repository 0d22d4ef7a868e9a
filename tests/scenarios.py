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
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
CACHE = ROOT / ".cache" / "scenarios"
WIDTH, HEIGHT, FPS = 640, 480, 15
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
class Shot:
    """From ``start`` to ``end`` seconds, these photos are in view (empty: nobody)."""

    start: float
    end: float
    people: tuple[str, ...]


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


@cache
def head(name: str, face_width: int) -> np.ndarray:
    """Head and shoulders cut from the photo, scaled so the face is ``face_width`` pixels wide."""
    import cv2
    import face_recognition

    image = photo(name)
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
    top, right, bottom, left = max(boxes, key=lambda b: (b[1] - b[3]) * (b[2] - b[0]))
    size = right - left
    scale = face_width / size
    cx, cy = (left + right) // 2, (top + bottom) // 2
    x0, x1 = max(0, int(cx - 1.3 * size)), min(image.shape[1], int(cx + 1.3 * size))
    y0, y1 = max(0, int(cy - 1.2 * size)), min(image.shape[0], int(cy + 1.8 * size))
    crop = image[y0:y1, x0:x1]
    return cv2.resize(crop, (int(crop.shape[1] * scale), int(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA)


@cache
def room() -> np.ndarray:
    """A plain room: a wall, a shelf and a door, so the background is not a flat colour."""
    import cv2

    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (176, 168, 150)
    cv2.rectangle(image, (20, 40), (150, 300), (120, 90, 60), -1)
    cv2.rectangle(image, (480, 60), (620, 110), (90, 70, 50), -1)
    cv2.rectangle(image, (0, 400), (WIDTH, HEIGHT), (70, 70, 80), -1)
    return image


def paste(frame: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    h = min(image.shape[0], HEIGHT - y)
    w = min(image.shape[1], WIDTH - x)
    x0, y0 = max(0, -x), max(0, -y)
    frame[max(0, y) : y + h, max(0, x) : x + w] = image[y0:h, x0:w]


def render_frame(people: tuple[str, ...], t: float, noise: np.ndarray) -> np.ndarray:
    frame = room().copy()
    for index, name in enumerate(people):
        # The student sits in the middle; anyone else is further back, to the side, and smaller.
        image = head(name, 170 if index == 0 else 120)
        sway_x = int(6 * np.sin(t * 1.1 + index))
        sway_y = int(4 * np.sin(t * 0.7 + index))
        x = (WIDTH - image.shape[1]) // 2 + sway_x if index == 0 else 430 + sway_x
        y = 70 + sway_y if index == 0 else 40 + sway_y
        paste(frame, image, x, y)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


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
    rng = np.random.default_rng(7)
    total = int(item.seconds * rate)
    audio = rng.normal(0, 10 ** (item.noise_db / 20), total).astype(np.float32)
    for start, end in item.speech:
        pcm = speech_pcm(end - start, rate)
        audio[int(start * rate) : int(start * rate) + len(pcm)] += pcm
    return np.clip(audio, -1, 1)


def encode(item: Scenario) -> bytes:
    """The scenario as a WebM file (VP8 500 kbit/s, keyframe every second; Opus mono 48 kHz)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        video = container.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = 500_000
        video.gop_size = FPS
        video.options = {"deadline": "realtime", "cpu-used": "8", "keyint_min": str(FPS)}
        sound = container.add_stream("libopus", rate=48_000)
        sound.layout = "mono"
        sound.bit_rate = 32_000
        rng = np.random.default_rng(3)
        noise = [rng.integers(-5, 6, (HEIGHT, WIDTH, 3), dtype=np.int16) for _ in range(4)]
        for index in range(int(item.seconds * FPS)):
            t = index / FPS
            people = next((s.people for s in item.shots if s.start <= t < s.end), ())
            frame = av.VideoFrame.from_ndarray(render_frame(people, t, noise[index % 4]), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        pcm = render_audio(item)
        for start in range(0, len(pcm) - 959, 960):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 960], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 48_000, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode())
    return buffer.getvalue()


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
