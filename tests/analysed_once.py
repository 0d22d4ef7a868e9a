"""The pure analyses computed once per input in a test process: many tests enrol the same photo and
analyse the same scenario for it through the real services, and the detectors (pure functions,
deterministic) take seconds of CPU per recording, and a good part of one per face, that would give
the very same result each time.

Only the calls to ``analysis.pipeline.analyse_webcam`` and ``identity.faces.face_encoding`` are
shared: each test still stores and decrypts its chunks and templates, runs the services, writes its
rows and decodes its evidence pictures. A call that raises is never kept.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from analysis import media
from analysis.pipeline import WebcamResult, analyse_webcam
from identity.faces import face_encoding

#: Results by what the pipeline was given: the plaintext, the template, the detectors, the start.
RESULTS: dict[tuple[Any, ...], WebcamResult] = {}
#: Face encodings by the picture's pixels.
ENCODINGS: dict[tuple[Any, ...], np.ndarray] = {}


def face_encoding_once(image: np.ndarray) -> np.ndarray:
    """``face_encoding``, kept for the rest of the process for each picture."""
    pixels = np.ascontiguousarray(image)
    key = (pixels.shape, pixels.dtype.str, hashlib.sha256(pixels.tobytes()).hexdigest())
    if key not in ENCODINGS:
        ENCODINGS[key] = face_encoding(image)
    return ENCODINGS[key].copy()


def _replay(chunks: list[bytes], error: BaseException) -> Iterator[bytes]:
    """The chunks that were read, then the error the stream raised after them, where it raised it."""
    yield from chunks
    raise error


def analyse_webcam_once(
    chunks: Iterable[bytes],
    *,
    template: np.ndarray | None,
    faces: bool,
    voice: bool,
    progress: media.ProgressSink | None = None,
    start_at: float = 0.0,
) -> WebcamResult:
    """``analyse_webcam``, whose result for the same input is kept for the rest of the process. The
    plaintext is read first to know it; a stream that fails part-way (a damaged chunk) is handed to
    the real pipeline as far as it got, failing where it failed, so its handling is still tested."""
    read: list[bytes] = []
    try:
        read.extend(chunks)
    except Exception as exc:
        return analyse_webcam(
            _replay(read, exc), template=template, faces=faces, voice=voice, progress=progress, start_at=start_at
        )
    digest = hashlib.sha256()
    for chunk in read:
        digest.update(chunk)
    key = (
        digest.hexdigest(),
        None if template is None else np.asarray(template, dtype="<f8").tobytes(),
        faces,
        voice,
        start_at,
    )
    if key not in RESULTS:
        RESULTS[key] = analyse_webcam(
            read, template=template, faces=faces, voice=voice, progress=progress, start_at=start_at
        )
    elif progress is not None:
        # As the decoder reports while it reads: every mebibyte.
        done = reported = 0
        for chunk in read:
            done += len(chunk)
            if done - reported >= 1 << 20:
                reported = done
                progress(done)
    return copy.deepcopy(RESULTS[key])
