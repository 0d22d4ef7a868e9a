"""Analysis scenarios with known ground truth: webcam recordings (640x480 VP8 at 15 fps, Opus audio, as
a browser's MediaRecorder writes them) drawn from real face photos in ``../shared/fixtures/faces`` and
one that ships in a package (matplotlib's sample photo of Grace Hopper), in rooms drawn from a seed,
with the conditions that trip detectors up (dim light, backlight, blur, a student far from the camera,
a turned head, a hand or a cup over the mouth, flicker, keyframes far apart) and sounds from
``tests/sounds.py`` (steady noises of several families, speech from espeak-ng).

``SCENARIOS`` is the small set the analysis tests run through the real services; ``tests/scenario_set.py``
builds the large set, split into a development and a held-back half, that ``bench/analysis.py``
measures. Recordings are cached under ``.cache/`` by a hash of their description, because encoding
them takes a while.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from review.demo.media import AUDIO_RATE, FPS, HEIGHT, WIDTH, encode_webm, head_with_face, room_noise

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
CACHE = ROOT / ".cache" / "scenarios"
#: Bump when the recordings a description gives change (here or in tests/sounds.py), so the cache renews.
GENERATOR_VERSION = 6

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
class Person:
    """Someone in view: which photo, how large their face is (pixels wide), where its centre is (as
    fractions of the frame), a simulated head turn (degrees) and anything over the lower face."""

    photo: str
    face: int = 170
    x: float = 0.5
    y: float = 0.4
    turn: float = 0.0
    #: "", "hand" or "cup".
    cover: str = ""


@dataclass(frozen=True)
class Shot:
    """From ``start`` to ``end`` seconds, these people are in view (none: an empty room), in this light.
    A bare photo name is the student in the middle, or anyone after the first further back, to the side."""

    start: float
    end: float
    people: tuple[Person | str, ...]
    #: Brightness of the whole picture (1 normal, 0.3 a dim room, 0.03 lights off).
    light: float = 1.0
    #: A bright window behind the student, who is then lit from behind.
    backlight: bool = False
    #: Defocus blur, Gaussian sigma in pixels.
    blur: float = 0.0
    #: Light flicker, as a fraction of brightness (mains-powered lights at 2 Hz).
    flicker: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float
    shots: tuple[Shot, ...]
    #: (start, end) of speech; it is cut to end on a sound, so the truth is taken from what was made.
    speech: tuple[tuple[float, float], ...] = ()
    truth: tuple[Truth, ...] = ()
    #: Steady background noise, dBFS (white room noise, for the small set).
    noise_db: float = -58.0
    description: str = ""
    enrol_photo: str = ENROL_PHOTO
    #: A noise family from tests/sounds.py with its (from second, level dBFS) steps; empty: room noise.
    noise: str = ""
    noise_levels: tuple[tuple[float, float], ...] = ()
    voice: str = "en"
    #: Which sentences the speaker says: "dev" or "held-back" (tests/sounds.py).
    sentences: str = "dev"
    keyframe_seconds: float = 1.0
    #: Drawing the room and the sensor noise.
    seed: int = 0
    #: The condition it is an instance of, and the half of the set it belongs to.
    condition: str = ""
    half: str = ""
    #: The student's name, for reports per person.
    person: str = ""
    #: Nothing in it should raise a concern flag (a trap), whatever it shows.
    trap: bool = False

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


# --- Photos and people ---------------------------------------------------------------------------------


@cache
def photo(name: str) -> np.ndarray:
    """A photo by name: a file of the shared fixtures, ``package:NAME`` for matplotlib's sample data,
    ``mirror:NAME`` for a photo flipped left to right, ``left:NAME``/``right:NAME`` for one half."""
    from PIL import Image

    if name.startswith("mirror:"):
        return np.ascontiguousarray(photo(name.removeprefix("mirror:"))[:, ::-1])
    if name.startswith(("left:", "right:")):
        side, rest = name.split(":", 1)
        image = photo(rest)
        half = image.shape[1] // 2
        return np.ascontiguousarray(image[:, :half] if side == "left" else image[:, half:])
    if name.startswith("package:"):
        import matplotlib.cbook

        path = Path(matplotlib.cbook.get_sample_data(name.removeprefix("package:"), asfileobj=False))
    else:
        path = FACES / name
    return np.asarray(Image.open(path).convert("RGB"))


def head(name: str, face_width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Head and shoulders cut from the photo, scaled so the face is ``face_width`` pixels wide, and the
    face's box within it (review.demo.media cuts the demo's the same way)."""
    return head_with_face(photo, name, face_width)


def _turned(image: np.ndarray, box: tuple[int, int, int, int], degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The head turned about a vertical axis through the face, as a plane seen in perspective: the far
    side shrinks and the whole narrows. Returns the picture and its mask (what is head, not border)."""
    import cv2

    h, w = image.shape[:2]
    cx = (box[1] + box[3]) / 2
    angle = np.radians(degrees)
    focal = 2.5 * w

    def project(x: float, y: float) -> tuple[float, float]:
        dx = x - cx
        depth = dx * np.sin(angle)
        scale = focal / (focal + depth)
        return cx + dx * np.cos(angle) * scale, h / 2 + (y - h / 2) * scale

    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = np.float32([project(x, y) for x, y in corners])
    matrix = cv2.getPerspectiveTransform(corners, moved)
    picture = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (w, h), borderMode=cv2.BORDER_CONSTANT)
    return picture, mask


def _covered(image: np.ndarray, box: tuple[int, int, int, int], cover: str) -> np.ndarray:
    """A hand (palm and fingers, in the face's own skin tone) or a mug over the lower half of the face."""
    import cv2

    top, right, bottom, left = box
    out = image.copy()
    size = right - left
    cx = (left + right) // 2
    nose = top + int(0.62 * (bottom - top))
    if cover == "hand":
        cheek = image[top + (bottom - top) // 2 : top + 3 * (bottom - top) // 4, cx - size // 6 : cx + size // 6]
        skin = tuple(int(c) for c in (cheek.reshape(-1, 3).mean(axis=0) * 0.92))
        cv2.ellipse(
            out, (cx + size // 10, bottom + size // 8), (int(0.55 * size), int(0.42 * size)), -15, 0, 360, skin, -1
        )
        for finger in range(4):
            x = cx - size // 3 + finger * size // 5
            cv2.rectangle(out, (x, nose + size // 12), (x + size // 7, bottom + size // 8), skin, -1)
            cv2.circle(out, (x + size // 14, nose + size // 12), size // 14, skin, -1)
        shade = tuple(max(0, c - 40) for c in skin)
        for finger in range(1, 4):
            x = cx - size // 3 + finger * size // 5
            cv2.line(out, (x, nose + size // 6), (x, bottom), shade, 2)
    elif cover == "cup":
        mug_left, mug_right = cx - int(0.28 * size), cx + int(0.28 * size)
        mug_top, mug_bottom = nose + size // 10, bottom + int(0.45 * size)
        cv2.rectangle(out, (mug_left, mug_top), (mug_right, mug_bottom), (196, 48, 43), -1)
        cv2.ellipse(out, (cx, mug_top), ((mug_right - mug_left) // 2, size // 14), 0, 0, 360, (150, 30, 30), -1)
        cv2.ellipse(
            out,
            (mug_right + size // 10, (mug_top + mug_bottom) // 2),
            (size // 8, size // 5),
            0,
            0,
            360,
            (196, 48, 43),
            6,
        )
    return out


def _silhouette(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    """Head and shoulders as a mask, so the room shows around the person, not the photo's backdrop."""
    import cv2

    top, right, bottom, left = box
    size = right - left
    cx, cy = (left + right) // 2, (top + bottom) // 2
    mask = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(mask, (cx, cy - size // 10), (int(0.72 * size), int(0.95 * size)), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (cx - size // 3, cy), (cx + size // 3, bottom + size // 2), 255, -1)
    cv2.ellipse(mask, (cx, bottom + int(1.6 * size)), (int(1.5 * size), int(1.3 * size)), 0, 0, 360, 255, -1)
    return mask


@cache
def figure(person: Person) -> tuple[np.ndarray, np.ndarray]:
    """A person's picture as pasted into the room, and its mask."""
    image, box = head(person.photo, person.face)
    if person.cover:
        image = _covered(image, box, person.cover)
    mask = _silhouette(image.shape, box)
    if person.turn:
        image, turned = _turned(image, box, person.turn)
        mask = np.minimum(mask_turned(mask, box, person.turn), turned)
    return image, mask


def mask_turned(mask: np.ndarray, box: tuple[int, int, int, int], degrees: float) -> np.ndarray:
    return _turned(np.repeat(mask[:, :, None], 3, axis=2), box, degrees)[0][:, :, 0]


def placed(people: tuple[Person | str, ...]) -> tuple[Person, ...]:
    """Bare photo names where the small set puts them: the student in the middle, others behind her."""
    return tuple(
        entry if isinstance(entry, Person) else Person(entry) if index == 0 else Person(entry, face=120, x=0.78, y=0.3)
        for index, entry in enumerate(people)
    )


# --- Rooms and frames ----------------------------------------------------------------------------------


@cache
def room(seed: int, backlight: bool = False) -> np.ndarray:
    """A room drawn from ``seed``: a wall, shelves, a door or a poster, a desk edge. With backlight, a
    bright window fills the wall behind the student."""
    import cv2

    rng = np.random.default_rng(seed + 1000)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = rng.integers(120, 215, 3)
    for _ in range(int(rng.integers(2, 5))):
        x, y = int(rng.integers(0, WIDTH - 100)), int(rng.integers(20, HEIGHT - 200))
        w, h = int(rng.integers(60, 180)), int(rng.integers(30, 220))
        colour = tuple(int(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
    image[int(rng.integers(380, 420)) :] = rng.integers(50, 110, 3)
    if backlight:
        cv2.rectangle(image, (WIDTH // 6, 0), (5 * WIDTH // 6, 330), (250, 250, 246), -1)
    return image


def render_frame(item: Scenario, shot: Shot, t: float, noise: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One webcam frame at ``t`` seconds: the room, the people in it swaying a little, the light, blur
    and sensor noise (given as the amounts to add and to take away)."""
    import cv2

    frame = room(item.seed, shot.backlight).copy()
    people = placed(shot.people)
    # The furthest (smallest) first, so whoever is nearer the camera covers them.
    for index, person in sorted(enumerate(people), key=lambda pair: pair[1].face):
        picture, mask = figure(person)
        if shot.backlight:
            picture = cv2.convertScaleAbs(picture, alpha=0.42)
        _, box = head(person.photo, person.face)
        sway_x = 6 * np.sin(t * 1.1 + index + item.seed)
        sway_y = 4 * np.sin(t * 0.7 + index)
        x = int(person.x * WIDTH - (box[1] + box[3]) / 2 + sway_x)
        y = int(person.y * HEIGHT - (box[0] + box[2]) / 2 + sway_y)
        _paste(frame, picture, mask, x, y)
    light = shot.light * (1 + shot.flicker * np.sin(2 * np.pi * 2 * t))
    if light != 1.0:
        frame = cv2.convertScaleAbs(frame, alpha=light)
    if shot.blur:
        frame = cv2.GaussianBlur(frame, (0, 0), shot.blur)
    added, taken = noise
    return cv2.subtract(cv2.add(frame, added), taken)


def _paste(frame: np.ndarray, image: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Copy ``image`` where ``mask`` is set onto ``frame`` with its top left corner at (x, y)."""
    import cv2

    h, w = image.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    target = frame[y0:y1, x0:x1]
    cv2.copyTo(image[y0 - y : y1 - y, x0 - x : x1 - x], mask[y0 - y : y1 - y, x0 - x : x1 - x], target)


def sensor_noise(seed: int, count: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """A few frames of a camera's sensor noise (Gaussian, sigma 3), each as what to add and take away."""
    rng = np.random.default_rng(seed + 3)
    found = []
    for _ in range(count):
        values = rng.normal(0, 3.0, (HEIGHT, WIDTH, 3))
        found.append((np.clip(values, 0, 255).astype(np.uint8), np.clip(-values, 0, 255).astype(np.uint8)))
    return found


def frames(item: Scenario) -> Iterator[np.ndarray]:
    noise = sensor_noise(item.seed)
    empty = Shot(0, item.seconds, ())
    for index in range(int(item.seconds * FPS)):
        t = index / FPS
        shot = next((s for s in item.shots if s.start <= t < s.end), empty)
        yield render_frame(item, shot, t, noise[index % len(noise)])


# --- Sound -----------------------------------------------------------------------------------------------


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


def render_audio(item: Scenario, rate: int = AUDIO_RATE) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """The microphone: float samples, and the (start, end) of each stretch of speech as made."""
    if item.noise:
        from tests import sounds

        made = sounds.recording(
            item.noise,
            seconds=item.seconds,
            levels=item.noise_levels or ((0.0, -45.0),),
            talk=[(start, end - start) for start, end in item.speech],
            voice=item.voice,
            sentences=sounds.DEV_SENTENCES if item.sentences == "dev" else sounds.HELD_BACK_SENTENCES,
            rate=rate,
            seed=item.seed,
        )
        return np.clip(made.samples, -1, 1), made.speech
    audio = room_noise(item.seconds, item.noise_db, rate)
    for start, end in item.speech:
        pcm = speech_pcm(end - start, rate)
        audio[int(start * rate) : int(start * rate) + len(pcm)] += pcm
    return np.clip(audio, -1, 1), item.speech


def encode(item: Scenario) -> bytes:
    """The scenario as a WebM file: VP8 at 500 kbit/s in libvpx's realtime mode with a keyframe every
    ``keyframe_seconds`` (a browser asked for one a second, or one that spaces them out), Opus mono."""
    pcm, _ = render_audio(item)
    return encode_webm(
        frames(item),
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        bit_rate=500_000,
        pcm=pcm,
        keyframe_seconds=item.keyframe_seconds,
    )


def recording(item: Scenario) -> bytes:
    """The scenario's WebM bytes, from the cache when they were made before."""
    path = CACHE / f"{item.name}-{item.key()}.webm"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{id(item)}.partial")
        temporary.write_bytes(encode(item))
        temporary.replace(path)
    return path.read_bytes()


def enrolled_template(enrol_photo: str = ENROL_PHOTO) -> np.ndarray:
    from identity.faces import face_template

    return face_template([photo(enrol_photo)] * 3)


def long_recording(minutes: int, *, keyframe_seconds: float = 1.0) -> Scenario:
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
        f"exam_{minutes}min" + (f"_key{keyframe_seconds:g}s" if keyframe_seconds != 1 else ""),
        seconds,
        tuple(shots),
        speech=tuple(speech),
        truth=tuple(truth),
        keyframe_seconds=keyframe_seconds,
        description=f"a {minutes}-minute exam with a 15-second event every 10 minutes",
    )
