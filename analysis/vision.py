"""Face presence and 1:1 verification on sampled webcam frames.

Pure code: RGB arrays in, dataclasses out, no Django. Detection runs on a downscaled copy with dlib's
HOG detector (face_recognition's own); the expensive face encoding runs sparsely, on a new face or
every so often, and only ever compares with the one claimed student's template. Nothing here infers
emotion, gaze or anything else about the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from analysis.rules import LEAST_STRICT, Evidence, Kind

#: Detection runs on frames scaled to this width: 20 ms a frame at 640 px, about 11 ms at 480 px.
DETECT_WIDTH = 480
#: Faces smaller than this (in the original frame) are ignored: dlib's HOG sees nothing reliable below it.
MIN_FACE_PIXELS = 90
#: Mean absolute difference (0-255) of tiny greyscale copies above which the scene has changed.
CHANGE_THRESHOLD = 15.0
#: A still, unremarkable scene is looked at again at least this often.
STILL_INTERVAL = 5.0
#: While something is unusual (no face, several) the scene is looked at this often.
UNUSUAL_INTERVAL = 2.0
#: A face that stays is verified again this often; a new face is verified at once.
IDENTITY_INTERVAL = 30.0
THUMBNAIL_SIZE = (160, 120)
#: The longest time one sampled frame may stand for (frames come about a second apart).
MAX_SAMPLE_SPAN = 2.0


@dataclass(frozen=True)
class FaceSample:
    """What one sampled frame showed, standing for the media time [start, end)."""

    start: float
    end: float
    faces: int
    #: The detection ran on this frame (False: a still scene, the previous result carried over).
    detected: bool
    #: dlib's detection score of the least clear face counted (higher is surer); None without a face.
    detection_score: float | None
    #: Distance of the largest face from the enrolled template, from the latest check of this face.
    distance: float | None
    #: Time of the frame whose thumbnail shows this result.
    moment: float


@dataclass
class VideoAnalysis:
    samples: list[FaceSample] = field(default_factory=list)
    thumbnails: dict[float, bytes] = field(default_factory=dict)
    frames_sampled: int = 0
    detections: int = 0
    identity_checks: int = 0


def scene_signature(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.int16)


def thumbnail_jpeg(image: np.ndarray) -> bytes:
    import cv2

    small = cv2.resize(image, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
    return encoded.tobytes() if ok else b""


class FaceSampler:
    """Fed frames in time order (about one a second); decides which deserve a detection, and which
    face deserves an identity check. ``finish`` closes the last sample's range."""

    def __init__(self, template: np.ndarray | None) -> None:
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.template = template
        self.verify = template is not None
        self.result = VideoAnalysis()
        #: The latest sample, whose end is known only when the next frame comes.
        self.pending: FaceSample | None = None
        self.last_signature: np.ndarray | None = None
        self.last_detection = -1e9
        self.last_check = -1e9
        self.last_faces = 0
        self.last_score: float | None = None
        self.distance: float | None = None
        self.moment = 0.0

    def feed(self, t: float, image: np.ndarray) -> None:
        self.result.frames_sampled += 1
        signature = scene_signature(image)
        changed = (
            self.last_signature is None or float(np.mean(np.abs(signature - self.last_signature))) > CHANGE_THRESHOLD
        )
        # Look closely after a change, while something is unusual, and now and then in a still scene.
        unusual = self.last_faces != 1 or (self.distance is not None and self.distance > 0.5)
        interval = UNUSUAL_INTERVAL if unusual else STILL_INTERVAL
        if changed or t - self.last_detection >= interval - 0.05:
            self._detect(t, image, changed)
            self.last_signature = signature
        self._close_pending(t)
        self.pending = FaceSample(
            t, t, self.last_faces, self.last_detection == t, self.last_score, self.distance, self.moment
        )

    def _detect(self, t: float, image: np.ndarray, changed: bool) -> None:
        import cv2

        self.result.detections += 1
        self.last_detection = t
        scale = DETECT_WIDTH / image.shape[1] if image.shape[1] > DETECT_WIDTH else 1.0
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        rects, scores, _ = self.detector.run(np.ascontiguousarray(small), 0, 0.0)
        faces = [
            (rect, float(score))
            for rect, score in zip(rects, scores, strict=True)
            if rect.width() / scale >= MIN_FACE_PIXELS
        ]
        # A face appearing, or the count changing (someone left or joined), may mean a different face.
        new_face = len(faces) >= 1 and len(faces) != self.last_faces
        self.last_faces = len(faces)
        self.last_score = min((s for _, s in faces), default=None)
        if not faces:
            self.distance = None
        elif self.verify and (new_face or changed or t - self.last_check >= IDENTITY_INTERVAL):
            largest = max(faces, key=lambda face: face[0].width())[0]
            self.distance = self._distance(image, largest, scale)
            self.last_check = t
        self.moment = t
        self.result.thumbnails[t] = thumbnail_jpeg(image)

    def _distance(self, image: np.ndarray, rect: object, scale: float) -> float:
        import face_recognition

        self.result.identity_checks += 1
        top, right = int(rect.top() / scale), int(rect.right() / scale)  # type: ignore[attr-defined]
        bottom, left = int(rect.bottom() / scale), int(rect.left() / scale)  # type: ignore[attr-defined]
        encoding = face_recognition.face_encodings(
            np.ascontiguousarray(image), known_face_locations=[(top, right, bottom, left)], num_jitters=1
        )[0]
        return round(float(np.linalg.norm(encoding - self.template)), 4)

    def _close_pending(self, end: float) -> None:
        if self.pending is None:
            return
        # A sample stands for the time to the next one, but never across a hole in the recording.
        self.result.samples.append(replace(self.pending, end=min(end, self.pending.start + MAX_SAMPLE_SPAN)))
        self.pending = None

    def finish(self, end: float) -> VideoAnalysis:
        if self.pending is not None:
            self._close_pending(max(end, self.pending.start + 1.0))
        return self.result


def detection_confidence(score: float | None) -> float:
    """dlib's HOG score mapped to 0-1: 0 (its own threshold) is a coin toss, 2 is near certain."""
    if score is None:
        return 0.5
    return round(1 / (1 + math.exp(-2 * score)), 3)


def face_evidence(samples: list[FaceSample]) -> list[Evidence]:
    """Evidence, in the recording's media time, from its face samples. A face distance is evidence
    whose strength the sensitivity's match threshold is compared with."""
    found = []
    for sample in samples:
        start, end, moment = sample.start, sample.end, sample.moment
        if sample.faces == 0:
            # HOG misses some turned or badly lit faces, so an absence is never certain.
            found.append(Evidence(Kind.NO_FACE, start, end, 0.8 if sample.detected else 0.7, moment))
            continue
        if sample.faces > 1:
            confidence = detection_confidence(sample.detection_score)
            found.append(Evidence(Kind.MULTIPLE_FACES, start, end, confidence, moment, {"faces": sample.faces}))
        if sample.distance is not None and sample.distance > LEAST_STRICT.match_distance:
            # How sure, whatever the sensitivity: a coin toss at 0.6 (face_recognition's usual line),
            # near certain from about 0.8 (other people measure 0.80-0.91 on our fixtures).
            confidence = round(min(0.99, max(0.05, 0.5 + (sample.distance - 0.6) / 0.4)), 3)
            detail = {"distance": sample.distance}
            found.append(Evidence(Kind.FACE_MISMATCH, start, end, confidence, moment, detail, strength=sample.distance))
    return found
