"""Webcam and screen recordings drawn from scratch and encoded as Chromium's MediaRecorder writes them
(WebM: VP8 with a keyframe every second, Opus mono at 48 kHz): the generic pieces, which the analysis
scenarios (``tests/scenarios.py``) render with too, and the demo attempt's storyline.

Pure code: photos and times in, frames and WebM bytes out, no Django.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 15
AUDIO_RATE = 48_000
#: Samples in one 20 ms Opus frame.
AUDIO_FRAME = 960
WEBCAM_BIT_RATE = 500_000

#: Gives a photo, as an RGB array, by its name.
PhotoSource = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class Shot:
    """From ``start`` to ``end`` seconds, these photos are in view (empty: nobody)."""

    start: float
    end: float
    people: tuple[str, ...]


# --- A webcam in a room -----------------------------------------------------------------------------


@cache
def head_with_face(photo: PhotoSource, name: str, face_width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Head and shoulders cut from the photo, scaled so the face is ``face_width`` pixels wide, and the
    face's box (top, right, bottom, left) within it."""
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
    crop = cv2.resize(crop, (int(crop.shape[1] * scale), int(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    box = (int((top - y0) * scale), int((right - x0) * scale), int((bottom - y0) * scale), int((left - x0) * scale))
    return crop, box


def head(photo: PhotoSource, name: str, face_width: int) -> np.ndarray:
    """Head and shoulders cut from the photo, scaled so the face is ``face_width`` pixels wide."""
    return head_with_face(photo, name, face_width)[0]


@cache
def room() -> np.ndarray:
    """A plain room: a wall, a shelf and a door, so the background is not a flat colour."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (176, 168, 150)
    cv2.rectangle(image, (20, 40), (150, 300), (120, 90, 60), -1)
    cv2.rectangle(image, (480, 60), (620, 110), (90, 70, 50), -1)
    cv2.rectangle(image, (0, 400), (WIDTH, HEIGHT), (70, 70, 80), -1)
    return image


def paste(frame: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    """Copy ``image`` onto ``frame`` with its top left corner at (x, y), cut at the frame's edges."""
    h = min(image.shape[0], frame.shape[0] - y)
    w = min(image.shape[1], frame.shape[1] - x)
    x0, y0 = max(0, -x), max(0, -y)
    frame[max(0, y) : y + h, max(0, x) : x + w] = image[y0:h, x0:w]


def render_frame(photo: PhotoSource, people: tuple[str, ...], t: float, noise: np.ndarray) -> np.ndarray:
    """One webcam frame at ``t`` seconds: the room, the people in it swaying a little, sensor noise."""
    frame = room().copy()
    for index, name in enumerate(people):
        # The student sits in the middle; anyone else is further back, to the side, and smaller.
        image = head(photo, name, 170 if index == 0 else 120)
        sway_x = int(6 * np.sin(t * 1.1 + index))
        sway_y = int(4 * np.sin(t * 0.7 + index))
        x = (WIDTH - image.shape[1]) // 2 + sway_x if index == 0 else 430 + sway_x
        y = 70 + sway_y if index == 0 else 40 + sway_y
        paste(frame, image, x, y)
    noisy: np.ndarray = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return noisy


def webcam_frames(photo: PhotoSource, shots: Iterable[Shot], seconds: float) -> Iterator[np.ndarray]:
    """Every frame of a webcam recording in which ``shots`` say who is in view when."""
    shots = tuple(shots)
    rng = np.random.default_rng(3)
    noise = [rng.integers(-5, 6, (HEIGHT, WIDTH, 3), dtype=np.int16) for _ in range(4)]
    for index in range(int(seconds * FPS)):
        t = index / FPS
        people = next((s.people for s in shots if s.start <= t < s.end), ())
        yield render_frame(photo, people, t, noise[index % 4])


def room_noise(seconds: float, noise_db: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Steady white noise at ``noise_db`` dBFS, as float samples: a quiet room's microphone."""
    rng = np.random.default_rng(7)
    return rng.normal(0, 10 ** (noise_db / 20), int(seconds * rate)).astype(np.float32)


def encode_webm(
    frames: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    fps: int,
    bit_rate: int,
    pcm: np.ndarray | None = None,
    keyframe_seconds: float = 1.0,
) -> bytes:
    """RGB frames (and mono float samples at 48 kHz, when given) as a WebM file: VP8 with a keyframe
    every ``keyframe_seconds``, encoded in libvpx's realtime mode as a browser does, and Opus, the two
    interleaved in time as a recorder writes them (so any stretch of the file holds both)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        video = container.add_stream("libvpx", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bit_rate
        gop = max(1, round(fps * keyframe_seconds))
        video.gop_size = gop
        video.options = {"deadline": "realtime", "cpu-used": "8", "keyint_min": str(gop)}
        video.thread_count = 1  # recordings may be encoded side by side: threads would only contend
        sound = None
        if pcm is not None:
            sound = container.add_stream("libopus", rate=AUDIO_RATE)
            sound.layout = "mono"
            sound.bit_rate = 32_000
        audio_at = 0

        def audio_until(sample: int) -> None:
            nonlocal audio_at
            if sound is None or pcm is None:
                return
            while audio_at + AUDIO_FRAME <= min(sample, len(pcm)):
                piece = pcm[None, audio_at : audio_at + AUDIO_FRAME].astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = AUDIO_RATE, audio_at
                container.mux(sound.encode(chunk))
                audio_at += AUDIO_FRAME

        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
            audio_until((index + 1) * AUDIO_RATE // fps)
        container.mux(video.encode())
        if sound is not None and pcm is not None:
            audio_until(len(pcm))
            container.mux(sound.encode())
    return buffer.getvalue()


def webcam_webm(photo: PhotoSource, shots: Iterable[Shot], seconds: float, pcm: np.ndarray) -> bytes:
    """A webcam recording as Chromium makes one: 640x480 at 15 fps, 500 kbit/s, with its microphone."""
    return encode_webm(
        webcam_frames(photo, shots, seconds), width=WIDTH, height=HEIGHT, fps=FPS, bit_rate=WEBCAM_BIT_RATE, pcm=pcm
    )


# --- The demo attempt -------------------------------------------------------------------------------

#: Grace Hopper, a US Navy photograph in the public domain (see README.md beside it).
PHOTO_FILE = Path(__file__).resolve().with_name("grace_hopper.jpg")
STUDENT_FACE = "hopper"
#: Someone else: the same photo mirrored (render_frame puts them further back, to the side, smaller).
OTHER_FACE = "hopper-mirrored"

DEMO_SECONDS = 90.0
DEMO_MINUTES = 10
#: The student alone; she leaves for 15 s; someone else is in view for 12 s; she is alone again.
DEMO_SHOTS = (
    Shot(0, 25, (STUDENT_FACE,)),
    Shot(25, 40, ()),
    Shot(40, 55, (STUDENT_FACE,)),
    Shot(55, 67, (STUDENT_FACE, OTHER_FACE)),
    Shot(67, DEMO_SECONDS, (STUDENT_FACE,)),
)
#: She looks something up in another tab for 6 s: the exam tab is hidden from, and visible again at.
DEMO_TAB_HIDDEN = (74.0, 80.0)
#: Browser signals: kind, seconds into the attempt.
DEMO_SIGNALS = (("tab_hidden", DEMO_TAB_HIDDEN[0]), ("tab_visible", DEMO_TAB_HIDDEN[1]))
#: The flags the analysis should raise: kind, start and end in seconds of the attempt.
DEMO_FLAGS = (("no_face", 25.0, 40.0), ("multiple_faces", 55.0, 67.0), ("tab_hidden", *DEMO_TAB_HIDDEN))
DEMO_NOISE_DB = -58.0


@dataclass(frozen=True)
class DemoQuestion:
    prompt: str
    choices: tuple[str, ...]
    correct: int
    #: The student's choice, and when she makes it (whole seconds into the attempt).
    answer: int
    answered_at: int


DEMO_QUESTIONS = (
    DemoQuestion(
        "A cyclist rides 12 km in 30 minutes. What is her average speed?",
        ("6 km/h", "24 km/h", "36 km/h", "0.4 km/h"),
        correct=1,
        answer=1,
        answered_at=18,
    ),
    DemoQuestion(
        "A stone is thrown straight up at 15 m/s. Ignoring air resistance, how long does it rise?",
        ("about 0.65 s", "about 1.5 s", "about 3.1 s", "15 s"),
        correct=1,
        answer=1,
        answered_at=83,
    ),
)


@cache
def demo_photo(name: str) -> np.ndarray:
    from PIL import Image

    image = np.asarray(Image.open(PHOTO_FILE).convert("RGB"))
    if name == OTHER_FACE:
        return np.ascontiguousarray(image[:, ::-1])
    if name == STUDENT_FACE:
        return image
    raise KeyError(name)


def demo_enrolment_photo() -> bytes:
    """The photo the student enrols her face with (a JPEG)."""
    return PHOTO_FILE.read_bytes()


def demo_check_frame() -> bytes:
    """A webcam picture (JPEG) of the student at her desk, for the identity check before the exam."""
    from PIL import Image

    buffer = io.BytesIO()
    frame = render_frame(demo_photo, (STUDENT_FACE,), 0.0, np.zeros((HEIGHT, WIDTH, 3), np.int16))
    Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def demo_webcam_webm() -> bytes:
    """The demo attempt's webcam and microphone: about 90 seconds, as the browser records them."""
    return webcam_webm(demo_photo, DEMO_SHOTS, DEMO_SECONDS, room_noise(DEMO_SECONDS, DEMO_NOISE_DB))


# --- The demo attempt's screen ----------------------------------------------------------------------

SCREEN_WIDTH, SCREEN_HEIGHT, SCREEN_FPS = 1280, 720, 5
SCREEN_BIT_RATE = 400_000
FONT = cv2.FONT_HERSHEY_SIMPLEX
INK, MUTED, LINK, WHITE = (33, 37, 41), (108, 117, 125), (26, 13, 171), (255, 255, 255)
PAGE_TOP = 76
EXAM_URL = "https://invigil.demo.invalid/exams/quiz-1-kinematics/"


def _text(image: np.ndarray, text: str, x: int, y: int, *, scale: float = 0.6, colour: tuple[int, ...] = INK) -> None:
    cv2.putText(image, text, (x, y), FONT, scale, colour, 2 if scale >= 0.9 else 1, cv2.LINE_AA)


def _time_left(second: int) -> str:
    left = max(DEMO_MINUTES * 60 - second, 0)
    return f"{left // 60}:{left % 60:02d}"


def _browser(image: np.ndarray, second: int, *, exam_tab: bool) -> None:
    """Tabs and an address bar. The exam tab's title carries the countdown, so it shows on either tab."""
    image[:PAGE_TOP] = (222, 225, 230)
    tabs = (
        (8, f"({_time_left(second)}) Quiz 1: kinematics", exam_tab),
        (300, "kinematics formulas - Search", not exam_tab),
    )
    for x, title, active in tabs:
        cv2.rectangle(image, (x, 6), (x + 284, 36), WHITE if active else (206, 210, 216), -1)
        _text(image, title, x + 14, 27, scale=0.5)
    image[36:PAGE_TOP] = WHITE
    cv2.rectangle(image, (120, 44), (1160, 68), (241, 243, 244), -1)
    url = EXAM_URL if exam_tab else "https://search.example/?q=kinematics+formulas+thrown+up"
    _text(image, url, 136, 62, scale=0.5, colour=MUTED)


def _exam_page(second: int) -> np.ndarray:
    image = np.full((SCREEN_HEIGHT, SCREEN_WIDTH, 3), (248, 249, 250), np.uint8)
    _browser(image, second, exam_tab=True)
    cv2.rectangle(image, (0, PAGE_TOP), (SCREEN_WIDTH, PAGE_TOP + 60), INK, -1)
    _text(image, "Invigil", 32, PAGE_TOP + 40, scale=0.9, colour=WHITE)
    _text(image, "PHYS101  Quiz 1: kinematics", 170, PAGE_TOP + 38, scale=0.7, colour=(206, 212, 218))
    cv2.circle(image, (880, PAGE_TOP + 31), 7, (220, 53, 69), -1)
    _text(image, "Recording", 896, PAGE_TOP + 38, scale=0.6, colour=(206, 212, 218))
    _text(image, f"Time left {_time_left(second)}", 1030, PAGE_TOP + 40, scale=0.9, colour=WHITE)
    y = PAGE_TOP + 110
    for number, question in enumerate(DEMO_QUESTIONS, start=1):
        _text(image, f"{number}. {question.prompt}", 60, y, scale=0.7)
        for index, choice in enumerate(question.choices):
            row = y + 42 + 34 * index
            cv2.circle(image, (80, row - 6), 9, MUTED, 2, cv2.LINE_AA)
            if second >= question.answered_at and index == question.answer:
                cv2.circle(image, (80, row - 6), 5, (13, 110, 253), -1, cv2.LINE_AA)
            _text(image, choice, 100, row, scale=0.6)
        y += 220
    cv2.rectangle(image, (60, 620), (200, 664), (13, 110, 253), -1)
    _text(image, "Submit", 92, 650, scale=0.7, colour=WHITE)
    return image


def _search_page(second: int) -> np.ndarray:
    image = np.full((SCREEN_HEIGHT, SCREEN_WIDTH, 3), WHITE, np.uint8)
    _browser(image, second, exam_tab=False)
    cv2.rectangle(image, (60, PAGE_TOP + 24), (760, PAGE_TOP + 68), (218, 220, 224), 1)
    _text(image, "kinematics formulas thrown up", 80, PAGE_TOP + 53, scale=0.7)
    results = (
        "Equations of motion - time to reach the highest point",
        "Projectile thrown vertically upwards: worked examples",
        "Kinematics cheat sheet: v = u + at, s = ut + at^2/2",
    )
    for index, title in enumerate(results):
        y = PAGE_TOP + 130 + 120 * index
        _text(image, f"search.example/result/{index + 1}", 60, y, scale=0.5, colour=(24, 128, 56))
        _text(image, title, 60, y + 30, scale=0.75, colour=LINK)
        _text(
            image, "At the highest point the velocity is zero, so t = u / g ...", 60, y + 60, scale=0.55, colour=MUTED
        )
    return image


def screen_frames(seconds: float = DEMO_SECONDS) -> Iterator[np.ndarray]:
    """The student's entire screen: the exam page with its countdown, and a search page in another
    tab while the exam tab is hidden. The picture changes once a second, so each second is drawn once."""
    hidden_from, visible_at = DEMO_TAB_HIDDEN
    for second in range(int(seconds)):
        image = _search_page(second) if hidden_from <= second < visible_at else _exam_page(second)
        for _ in range(SCREEN_FPS):
            yield image


def demo_screen_webm() -> bytes:
    """The demo attempt's screen recording: 1280x720 at 5 fps, no sound, in step with the webcam."""
    return encode_webm(
        screen_frames(), width=SCREEN_WIDTH, height=SCREEN_HEIGHT, fps=SCREEN_FPS, bit_rate=SCREEN_BIT_RATE
    )


#: The browser's MediaRecorder hands over a chunk about this often.
CHUNK_SECONDS = 3.0


def chunked(data: bytes, seconds: float) -> list[bytes]:
    """``seconds`` of recorded media cut as the recorder hands it over: piece ``i`` begins about
    ``i * CHUNK_SECONDS`` into the recording (the last pieces may be empty for very short media)."""
    count = max(1, round(seconds / CHUNK_SECONDS))
    size = -(-len(data) // count)
    return [data[index * size : (index + 1) * size] for index in range(count)]
