"""The detectors of one webcam recording, composed: one decoding pass feeding face sampling and voice
activity, giving evidence in media time.

Pure code: plaintext chunks in, evidence out, no Django. The analysis service runs it on decrypted
recordings; ``bench/analysis.py`` runs the very same function on the scenario set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis import media, rules, speech, vision


@dataclass
class WebcamResult:
    evidence: list[rules.Evidence]
    statistics: dict[str, Any] = field(default_factory=dict)
    #: What each sampled frame showed (for the benchmark's per-person and per-light figures).
    face_samples: list[vision.FaceSample] = field(default_factory=list)
    #: The last media time the recording reached, in seconds.
    end: float = 0.0


def analyse_webcam(
    chunks: Iterable[bytes],
    *,
    template: np.ndarray | None,
    faces: bool,
    voice: bool,
    progress: media.ProgressSink | None = None,
    start_at: float = 0.0,
) -> WebcamResult:
    """Faces (presence, count, and 1:1 match when a template is given) and speech, in one pass. The
    evidence does not depend on the exam's sensitivity: rules.events_from applies that afterwards.
    Analyses from media time ``start_at`` on (what comes before is demuxed, not decoded), so a part
    can be analysed a stretch at a time while it is still being recorded.
    Raises recordings.remux.MediaError for a recording that cannot be decoded."""
    sampler = vision.FaceSampler(template) if faces else None
    activity = speech.VoiceActivity(min_margin_db=rules.LEAST_STRICT.speech_margin_db) if voice else None
    stats = media.decode_stream(
        chunks,
        video=sampler.feed if sampler else None,
        audio=activity.feed if activity else None,
        progress=progress,
        start_at=start_at,
    )
    result = WebcamResult(
        [],
        {"decode_mode": stats.mode, "damaged_packets": stats.damaged_packets, "frames_decoded": stats.frames_decoded},
        end=stats.end,
    )
    if sampler is not None:
        video = sampler.finish(stats.end)
        result.evidence += vision.face_evidence(video.samples)
        result.face_samples = video.samples
        result.statistics.update(
            frames_sampled=video.frames_sampled,
            detections=video.detections,
            second_opinions=video.second_opinions,
            cnn_detections=video.cnn_detections,
            identity_checks=video.identity_checks,
        )
    if activity is not None:
        result.evidence += activity.evidence()
        result.statistics["audio_seconds"] = round(activity.seconds, 1)
    return result
