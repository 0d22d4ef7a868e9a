"""Face presence and 1:1 verification on sampled webcam frames.

Pure code: pictures in, dataclasses out, no Django. Nothing here infers emotion, gaze or anything else
about a face: it counts faces and compares each with the one claimed student's template.

How a frame is looked at, cheapest first, so that the costly steps run only where there is doubt:

1. A tiny, brightness-normalised copy of the frame tells whether the scene changed; a still scene
   keeps the previous result (light flicker and head sway are not changes).
2. dlib's HOG detector on a downscaled copy finds the clear, frontal faces.
3. A face HOG lost is looked for where it was: if that patch still looks as it did, the face is there.
4. Only when faces are still missing (a hand over the mouth, a turned head, dim light, a student far
   from the camera): a second opinion from HOG on a contrast-enhanced full-size copy, upsampled, and
   then from dlib's CNN face detector (better on turned and partly covered faces). A "no face" stands
   only when both agree, and a scene the second opinion already saw is not asked again.

Every face in view is verified against the template, once when it appears (a new track) and again now
and then; a face whose distance falls in the doubtful band gets a second opinion (68-point alignment
and an evened-out copy) before it counts as another person. A continuing track keeps its best match,
so a student who turns her head is not taken for someone else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Protocol

import numpy as np

from analysis.rules import LEAST_STRICT, Evidence, Kind

#: The cheap detection runs on frames scaled to this width (about 15 ms a frame at 480 px).
DETECT_WIDTH = 480
#: Faces narrower than this (in the original frame) are ignored, whichever detector found them.
MIN_FACE_PIXELS = 40
#: Mean absolute difference of tiny, brightness-normalised copies over any eighth of the picture's
#: width and height (in tenths of a standard deviation) above which the scene has changed.
CHANGE_THRESHOLD = 8.0
#: A still, unremarkable scene is looked at again at least this often.
STILL_INTERVAL = 10.0
#: While something is unusual (no face, several, a mismatch) the scene is looked at this often.
UNUSUAL_INTERVAL = 2.0
#: A face that stays (the same track) is verified again this often; a new face is verified at once.
IDENTITY_INTERVAL = 120.0
#: Distances in this band are doubtful: the face is measured again before it counts either way.
DOUBT_LOW, DOUBT_HIGH = 0.5, 0.78
#: A face's patch at least this similar (normalised cross-correlation) is the same face, still there.
SAME_FACE_SIMILARITY = 0.75
#: A frame darker than this (mean luma, 0-255) with no face seen is "too dark", a technical matter.
DARK_MEAN = 45.0
#: ...unless something in it is bright enough to see by (the 99th percentile of luma).
DARK_BRIGHTEST = 110.0
#: dlib's CNN detector's confidence below which a face it reports is not counted.
CNN_MIN_CONFIDENCE = 0.3
#: dlib's CNN detector finds faces from about 70 px wide (HOG's box) at the scale it is given, and costs
#: in proportion to the pixels it searches (2 s for a whole 640x480 frame here). It looks at a copy
#: scaled so the face it is asked to find back is this wide, never enlarged.
CNN_FACE_PIXELS = 100
#: HOG's score below which a face that was not expected (a second one appearing) is not counted.
HOG_NEW_FACE_SCORE = 0.1
THUMBNAIL_SIZE = (160, 120)
#: The longest time one sampled frame may stand for (frames come about a second apart).
MAX_SAMPLE_SPAN = 2.0

#: (top, right, bottom, left) in the original frame's pixels, as face_recognition orders them.
Box = tuple[int, int, int, int]


class Picture(Protocol):
    """A decoded frame: its luma plane at once, its RGB pixels only when asked (converting costs)."""

    @property
    def grey(self) -> np.ndarray: ...

    def rgb(self) -> np.ndarray: ...


class ArrayPicture:
    """A picture from an RGB array (tests, thumbnails of stills)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self._rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        self._grey: np.ndarray | None = None

    @property
    def grey(self) -> np.ndarray:
        if self._grey is None:
            import cv2

            self._grey = cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY)
        return self._grey

    def rgb(self) -> np.ndarray:
        return self._rgb


@dataclass(frozen=True)
class FaceSample:
    """What one sampled frame showed, standing for the media time [start, end)."""

    start: float
    end: float
    faces: int
    #: The detection ran on this frame (False: a still scene, the previous result carried over).
    detected: bool
    #: How sure the face count is, 0-1.
    detection_score: float | None
    #: The smallest distance of any face in view from the enrolled template (None: not measured).
    distance: float | None
    #: Time of the frame whose thumbnail shows this result.
    moment: float
    #: Too dark to see: no face was found, and the picture was dark.
    dark: bool = False
    #: The second opinion (enhanced HOG, CNN detector) agreed with the count.
    confirmed: bool = False
    #: Each face's distance from the template, largest face first.
    distances: tuple[float | None, ...] = ()


@dataclass
class VideoAnalysis:
    samples: list[FaceSample] = field(default_factory=list)
    frames_sampled: int = 0
    detections: int = 0
    second_opinions: int = 0
    cnn_detections: int = 0
    identity_checks: int = 0


@dataclass
class Track:
    """One face followed from detection to detection."""

    box: Box
    patch: np.ndarray
    #: The best (smallest) distance from the template while this track lasted.
    distance: float | None = None
    checked_at: float = -1e9


@dataclass(frozen=True)
class Face:
    box: Box
    #: How sure the detector is, 0-1.
    confidence: float


# --- Models, loaded once per process ----------------------------------------------------------------


@cache
def _hog() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _cnn() -> Any:
    import dlib
    import face_recognition_models

    return dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())


@cache
def _landmarks(points: int) -> Any:
    import dlib
    import face_recognition_models

    path = (
        face_recognition_models.pose_predictor_five_point_model_location()
        if points == 5
        else face_recognition_models.pose_predictor_model_location()
    )
    return dlib.shape_predictor(path)


@cache
def _encoder() -> Any:
    import dlib
    import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


# --- Small pure helpers ------------------------------------------------------------------------------


def scene_signature(grey: np.ndarray) -> np.ndarray:
    """A 64x48 copy with its brightness and contrast evened out, so flicker is not a change."""
    import cv2

    small = cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Softened, so that a head swaying a pixel or two is not a change while someone appearing is.
    soft: np.ndarray = cv2.GaussianBlur(small, (0, 0), 1.5)
    evened: np.ndarray = (soft - soft.mean()) / max(float(soft.std()), 4.0)
    return evened


def scene_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much the scene changed, in tenths of a standard deviation: the largest mean difference over
    8x8 blocks of the signatures, so someone appearing in a corner counts as much as a change of the
    whole picture."""
    blocks = np.abs(a - b).reshape(6, 8, 8, 8).mean(axis=(1, 3))
    return float(blocks.max()) * 10


#: A face's patch is this many pixels square; the search around it reaches this far beyond its box.
PATCH_SIZE = 32
SEARCH_MARGIN = 0.2


def face_patch(grey: np.ndarray, box: Box) -> np.ndarray:
    """The face's box as a small square patch, to tell the same face, still there, from another."""
    import cv2

    top, right, bottom, left = _clip(box, grey.shape)
    crop = grey[top:bottom, left:right]
    if crop.size == 0:
        return np.zeros((PATCH_SIZE, PATCH_SIZE), np.uint8)
    return cv2.resize(crop, (PATCH_SIZE, PATCH_SIZE), interpolation=cv2.INTER_AREA)


def similarity(grey: np.ndarray, box: Box, patch: np.ndarray) -> float:
    """How well ``patch`` (taken from ``box`` earlier) is found in ``box`` now, allowing the face to
    have moved a little: the best normalised cross-correlation, -1 to 1. Compared at the patch's own
    scale, so the detector's jittery box sizes do not matter."""
    import cv2

    top, right, bottom, left = box
    margin_x, margin_y = int((right - left) * SEARCH_MARGIN), int((bottom - top) * SEARCH_MARGIN)
    region = grey[max(0, top - margin_y) : bottom + margin_y, max(0, left - margin_x) : right + margin_x]
    if region.size == 0 or right <= left or bottom <= top:
        return -1.0
    scale_x, scale_y = PATCH_SIZE / (right - left), PATCH_SIZE / (bottom - top)
    size = (max(PATCH_SIZE, round(region.shape[1] * scale_x)), max(PATCH_SIZE, round(region.shape[0] * scale_y)))
    search = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    if float(patch.std()) < 2.0 or float(search.std()) < 2.0:
        return -1.0  # a flat patch (a dark or blank frame) matches anything: it is not the same face
    return float(cv2.matchTemplate(search, patch, cv2.TM_CCOEFF_NORMED).max())


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    top, right, bottom, left = box
    return max(0, top), min(shape[1], right), min(shape[0], bottom), max(0, left)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / area if area > 0 else 0.0


def width(box: Box) -> int:
    return box[1] - box[3]


def is_dark(grey: np.ndarray) -> bool:
    small = grey[::8, ::8]
    return float(small.mean()) < DARK_MEAN and float(np.percentile(small, 99)) < DARK_BRIGHTEST


def enhanced(grey: np.ndarray) -> np.ndarray:
    """Local contrast evened out (CLAHE): brings up a face in dim light or against a bright window."""
    import cv2

    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(grey)


def thumbnail_jpeg(image: np.ndarray) -> bytes:
    import cv2

    small = cv2.resize(image, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
    return encoded.tobytes() if ok else b""


def hog_confidence(score: float) -> float:
    """dlib's HOG score mapped to 0-1: 0 (its own threshold) is a coin toss, 2 is near certain."""
    return round(1 / (1 + math.exp(-2 * score)), 3)


# --- Detectors -----------------------------------------------------------------------------------------


def detect_hog(grey: np.ndarray) -> list[Face]:
    """Clear faces, on a copy scaled down to DETECT_WIDTH."""
    import cv2

    scale = DETECT_WIDTH / grey.shape[1] if grey.shape[1] > DETECT_WIDTH else 1.0
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    rects, scores, _ = _hog().run(np.ascontiguousarray(small), 0, 0.0)
    return [
        Face(_box(rect, scale), hog_confidence(score))
        for rect, score in zip(rects, scores, strict=True)
        if rect.width() / scale >= MIN_FACE_PIXELS
    ]


def detect_enhanced(grey: np.ndarray) -> list[Face]:
    """Second opinion, first part: HOG on the contrast-enhanced frame at full size, upsampled once, so
    dim, backlit and small (far) faces are found too."""
    rects, scores, _ = _hog().run(np.ascontiguousarray(enhanced(grey)), 1, 0.0)
    return [
        Face(_box(rect, 1.0), hog_confidence(score))
        for rect, score in zip(rects, scores, strict=True)
        if rect.width() >= MIN_FACE_PIXELS
    ]


def detect_cnn(grey: np.ndarray, face_width: int | None = None) -> list[Face]:
    """Second opinion, last part: dlib's CNN face detector (MMOD), which finds turned and partly covered
    faces HOG misses; costly, so it runs only on doubtful frames, and when the face looked for is known
    to be ``face_width`` pixels wide, on a copy scaled down as far as still finds a face that size."""
    import cv2

    scale = min(1.0, CNN_FACE_PIXELS / face_width) if face_width else 1.0
    image = enhanced(grey)
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = _cnn()(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), 0)
    return [
        Face(_box(d.rect, scale), round(min(1.0, max(0.0, float(d.confidence))), 3))
        for d in found
        if d.confidence >= CNN_MIN_CONFIDENCE and d.rect.width() / scale >= MIN_FACE_PIXELS
    ]


def _box(rect: Any, scale: float) -> Box:
    return (
        int(rect.top() / scale),
        int(rect.right() / scale),
        int(rect.bottom() / scale),
        int(rect.left() / scale),
    )


def _merge(faces: list[Face], more: list[Face]) -> list[Face]:
    """Faces from two detectors, each face once."""
    merged = list(faces)
    for face in more:
        if all(overlap(face.box, other.box) < 0.3 for other in merged):
            merged.append(face)
    return merged


def face_distance(rgb: np.ndarray, box: Box, template: np.ndarray, *, points: int = 5, jitters: int = 1) -> float:
    """Distance of the face in ``box`` from the template (face_recognition's ResNet encoding)."""
    import dlib

    top, right, bottom, left = box
    shape = _landmarks(points)(rgb, dlib.rectangle(left, top, right, bottom))
    encoding = np.asarray(_encoder().compute_face_descriptor(rgb, shape, jitters))
    return round(float(np.linalg.norm(encoding - template)), 4)


def face_distance_second_opinion(rgb: np.ndarray, grey: np.ndarray, box: Box, template: np.ndarray) -> float:
    """The smallest distance over other ways of aligning and lighting the same face: the 68-point
    landmarks (steadier on a turned head), and an evened-out copy (backlight, dim light)."""
    import cv2

    lit = cv2.cvtColor(enhanced(grey), cv2.COLOR_GRAY2RGB)
    return min(
        face_distance(rgb, box, template, points=68),
        face_distance(lit, box, template, points=68),
    )


# --- The sampler ----------------------------------------------------------------------------------------


class FaceSampler:
    """Fed frames in time order (about one a second); decides which deserve a detection, which faces a
    second opinion, and which an identity check. ``finish`` closes the last sample's range."""

    def __init__(self, template: np.ndarray | None) -> None:
        self.template = template
        self.result = VideoAnalysis()
        #: The latest sample, whose end is known only when the next frame comes.
        self.pending: FaceSample | None = None
        self.tracks: list[Track] = []
        self.last_signature: np.ndarray | None = None
        self.last_detection = -1e9
        self.current = FaceSample(0.0, 0.0, 0, False, None, None, 0.0)
        #: The scene when the full ladder last ran, and what it found: a scene that has not changed
        #: since is not asked again.
        self.memo: tuple[np.ndarray, list[Face]] | None = None
        #: How wide the smallest face in view was when faces were last seen: the size the second
        #: opinion looks for when a face goes missing.
        self.face_width: int | None = None

    def feed(self, t: float, picture: Picture | np.ndarray) -> None:
        if isinstance(picture, np.ndarray):
            picture = ArrayPicture(picture)
        self.result.frames_sampled += 1
        grey = picture.grey
        signature = scene_signature(grey)
        # Compared with the frame before, not with the last one looked at: what happens now matters,
        # and a head swaying to and fro would add up to a change over several seconds.
        changed = self.last_signature is None or scene_change(signature, self.last_signature) > CHANGE_THRESHOLD
        self.last_signature = signature
        # Look closely after a change, while something is unusual, and now and then in a still scene.
        interval = UNUSUAL_INTERVAL if self._unusual(self.current) else STILL_INTERVAL
        if changed or t - self.last_detection >= interval - 0.05:
            self.current = self._detect(t, picture, grey, signature)
            self.last_detection = t
        else:
            self.current = replace(self.current, detected=False)
        self._close_pending(t)
        self.pending = replace(self.current, start=t, end=t)

    def _unusual(self, sample: FaceSample) -> bool:
        mismatch = sample.distance is not None and sample.distance > DOUBT_LOW
        return sample.faces != 1 or mismatch

    def _detect(self, t: float, picture: Picture, grey: np.ndarray, signature: np.ndarray) -> FaceSample:
        self.result.detections += 1
        faces = detect_hog(grey)
        # Faces HOG lost but whose patch still looks as it did: still there (a blink of the detector).
        for track in self.tracks:
            lost = all(overlap(track.box, face.box) < 0.3 for face in faces)
            if lost and similarity(grey, track.box, track.patch) >= SAME_FACE_SIMILARITY:
                faces.append(Face(track.box, 0.7))
        expected = max(len(self.tracks), 1)
        confirmed = len(faces) < expected
        if confirmed:
            faces = self._second_opinion(grey, signature, faces, expected)
        else:
            # A face nobody expected (someone joining) must be a clear one, or a second opinion's.
            faces = [f for f in faces if f.confidence >= hog_confidence(HOG_NEW_FACE_SCORE) or self._known(f)]
        faces.sort(key=lambda face: -width(face.box))
        self._follow(t, picture, grey, faces)
        distances = tuple(track.distance for track in self.tracks)
        known = [d for d in distances if d is not None]
        dark = not faces and is_dark(grey)
        return FaceSample(
            start=t,
            end=t,
            faces=len(faces),
            detected=True,
            detection_score=min((f.confidence for f in faces), default=None),
            distance=min(known) if known else None,
            moment=t,
            dark=dark,
            confirmed=confirmed,
            distances=distances,
        )

    def _known(self, face: Face) -> bool:
        return any(overlap(face.box, track.box) >= 0.3 for track in self.tracks)

    def _second_opinion(self, grey: np.ndarray, signature: np.ndarray, faces: list[Face], expected: int) -> list[Face]:
        """Fewer faces than expected: ask the enhanced HOG and then the CNN, unless this very scene was
        asked already."""
        if self.memo is not None and scene_change(signature, self.memo[0]) <= CHANGE_THRESHOLD:
            return _merge(faces, self.memo[1])
        self.result.second_opinions += 1
        found = _merge(faces, detect_enhanced(grey))
        if len(found) < expected:
            self.result.cnn_detections += 1
            found = _merge(found, detect_cnn(grey, self.face_width))
        self.memo = (signature, [face for face in found if face not in faces])
        return found

    def _follow(self, t: float, picture: Picture, grey: np.ndarray, faces: list[Face]) -> None:
        """Match the faces to the tracks; verify new faces at once and staying ones now and then."""
        tracks: list[Track] = []
        unclaimed = list(self.tracks)
        for face in faces:
            patch = face_patch(grey, face.box)
            previous = max(unclaimed, key=lambda tr: overlap(tr.box, face.box), default=None)
            same = (
                previous is not None
                and overlap(previous.box, face.box) >= 0.3
                and similarity(grey, previous.box, previous.patch) >= SAME_FACE_SIMILARITY
            )
            if same and previous is not None:
                unclaimed.remove(previous)
                track = replace(previous, box=face.box, patch=patch)
            else:
                # A new face, or another face where one was (someone swapped in): verify it afresh.
                track = Track(face.box, patch)
            if self.template is not None and t - track.checked_at >= IDENTITY_INTERVAL:
                self._verify(track, t, picture, grey)
            tracks.append(track)
        self.tracks = tracks
        if tracks:
            self.face_width = min(width(track.box) for track in tracks)

    def _verify(self, track: Track, t: float, picture: Picture, grey: np.ndarray) -> None:
        assert self.template is not None
        rgb = picture.rgb()
        self.result.identity_checks += 1
        distance = face_distance(rgb, track.box, self.template)
        if DOUBT_LOW < distance < DOUBT_HIGH:
            # Doubtful: a turned head, a hand, the light. Measure again before it counts.
            self.result.identity_checks += 1
            distance = min(distance, face_distance_second_opinion(rgb, grey, track.box, self.template))
        track.distance = distance if track.distance is None else min(track.distance, distance)
        track.checked_at = t

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


def face_evidence(samples: list[FaceSample]) -> list[Evidence]:
    """Evidence, in the recording's media time, from its face samples. A face distance is evidence
    whose strength the sensitivity's match threshold is compared with."""
    found = []
    for sample in samples:
        start, end, moment = sample.start, sample.end, sample.moment
        if sample.faces == 0:
            if sample.dark:
                found.append(Evidence(Kind.CAMERA_DARK, start, end, 0.9, moment))
            else:
                # Both detectors agreed there was no face; a carried-over still scene is nearly as sure.
                confidence = 0.9 if sample.confirmed else 0.7
                found.append(Evidence(Kind.NO_FACE, start, end, confidence, moment))
            continue
        if sample.faces > 1:
            confidence = sample.detection_score if sample.detection_score is not None else 0.5
            detail: dict[str, Any] = {"faces": sample.faces}
            if sample.distance is not None:
                detail["student_distance"] = sample.distance
            found.append(Evidence(Kind.MULTIPLE_FACES, start, end, confidence, moment, detail))
        if sample.distance is not None and sample.distance > LEAST_STRICT.match_distance:
            # No face in view matched. How sure, whatever the sensitivity: a coin toss at 0.6
            # (face_recognition's usual line), near certain from about 0.8.
            confidence = round(min(0.99, max(0.05, 0.5 + (sample.distance - 0.6) / 0.4)), 3)
            detail = {"distance": sample.distance, "faces": sample.faces}
            found.append(Evidence(Kind.FACE_MISMATCH, start, end, confidence, moment, detail, strength=sample.distance))
    return found
