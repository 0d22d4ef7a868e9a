"""Face enrolment and 1:1 verification with face_recognition (dlib). Pure functions: images in,
dataclasses out, no Django. Only ever compares a face with the one claimed student's template."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

MODEL = "face_recognition 1.3 (dlib HOG detector, ResNet encoder)"
#: face_recognition's customary tolerance: same person 0.25-0.39 on our fixtures, others 0.80-0.91.
MATCH_THRESHOLD = 0.6
MAX_SIDE = 640
MAX_PIXELS = 4096 * 4096


class FaceProblem(Exception):
    """No usable face: the message tells the student what to change."""


@dataclass(frozen=True)
class FaceMatch:
    distance: float
    threshold: float
    matched: bool


def image_from_bytes(data: bytes) -> np.ndarray:
    """Decode a JPEG or PNG in memory into RGB, downscaled so its longer side is at most 640 px."""
    from PIL import Image

    try:
        # JPEG and PNG only: no format that shells out (EPS) or decompresses without bound.
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise FaceProblem("That picture is too large; use the camera at its usual size.")
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            return np.asarray(image.convert("RGB"))
    except FaceProblem:
        raise
    except Exception as exc:  # Pillow raises many types for bad input; every one means "unreadable"
        raise FaceProblem("That picture could not be read; try again.") from exc


def face_encoding(image: np.ndarray) -> np.ndarray:
    """The 128-number encoding of the one face in the image."""
    import face_recognition

    image = np.ascontiguousarray(image, dtype=np.uint8)  # dlib refuses views such as crops
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    if not boxes:
        raise FaceProblem("No face was found. Face the camera in good light, with your whole face in view.")
    if len(boxes) > 1:
        raise FaceProblem("More than one face is in view. Make sure you are alone in front of the camera.")
    return np.asarray(face_recognition.face_encodings(image, known_face_locations=boxes, num_jitters=1)[0])


def face_template(images: list[np.ndarray], *, min_faces: int = 3) -> np.ndarray:
    """Enrol from several frames: the mean of their encodings, after checking they agree."""
    encodings = [face_encoding(image) for image in images]
    if len(encodings) < min_faces:
        raise FaceProblem(f"At least {min_faces} pictures are needed to enrol.")
    template: np.ndarray = np.mean(encodings, axis=0)
    if max(float(np.linalg.norm(e - template)) for e in encodings) > MATCH_THRESHOLD / 2:
        raise FaceProblem("The pictures do not agree with each other. Hold still, alone, and try again.")
    return template


def face_verify(template: np.ndarray, image: np.ndarray, *, threshold: float = MATCH_THRESHOLD) -> FaceMatch:
    distance = float(np.linalg.norm(face_encoding(image) - template))
    return FaceMatch(distance=distance, threshold=threshold, matched=distance <= threshold)


def template_to_bytes(template: np.ndarray) -> bytes:
    return np.asarray(template, dtype="<f8").tobytes()


def template_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f8").copy()
