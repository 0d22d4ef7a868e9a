"""The harness's shared analyses (tests/analysed_once.py): each input is analysed once and every caller
gets the real result in a copy of its own; a failure is never kept, and a stream that fails part-way
fails inside the real pipeline, as it would without the harness."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from identity.faces import FaceProblem
from proctor.crypto import DecryptionError
from tests import analysed_once
from tests.media import make_webm, split
from tests.scenarios import photo


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the real functions called, each time the harness calls one; nothing kept yet."""
    made: list[str] = []
    for name in ("analyse_webcam", "face_encoding"):
        real = getattr(analysed_once, name)

        def counted(*args: Any, real: Any = real, name: str = name, **kwargs: Any) -> Any:
            made.append(name)
            return real(*args, **kwargs)

        monkeypatch.setattr(analysed_once, name, counted)
    monkeypatch.setattr(analysed_once, "RESULTS", {})
    monkeypatch.setattr(analysed_once, "ENCODINGS", {})
    return made


@pytest.fixture(scope="module")
def chunks() -> list[bytes]:
    return split(make_webm(seconds=2.0, width=160, height=120), [20_000])


def test_the_same_recording_is_analysed_once_and_each_caller_gets_its_own_copy(
    calls: list[str], chunks: list[bytes]
) -> None:
    first = analysed_once.analyse_webcam_once(iter(chunks), template=None, faces=False, voice=True)
    first.statistics["changed by the first caller"] = True
    second = analysed_once.analyse_webcam_once(iter(chunks), template=None, faces=False, voice=True)

    assert calls == ["analyse_webcam"]
    assert "changed by the first caller" not in second.statistics
    assert second.statistics["audio_seconds"] == pytest.approx(2.0, abs=0.1)
    analysed_once.analyse_webcam_once(iter(chunks), template=None, faces=False, voice=True, start_at=1.0)
    analysed_once.analyse_webcam_once(iter(chunks[:-1]), template=None, faces=False, voice=True)
    assert calls == ["analyse_webcam"] * 3  # another start, other bytes: analysed again


def test_a_stream_that_fails_part_way_fails_in_the_real_pipeline_every_time(
    calls: list[str], chunks: list[bytes]
) -> None:
    def damaged() -> Iterator[bytes]:
        yield chunks[0]
        raise DecryptionError("a stored chunk is damaged")

    for _ in range(2):
        with pytest.raises(DecryptionError):
            analysed_once.analyse_webcam_once(damaged(), template=None, faces=False, voice=True)
    assert calls == ["analyse_webcam", "analyse_webcam"]
    assert analysed_once.RESULTS == {}


def test_a_face_is_encoded_once_per_picture_and_a_picture_without_one_is_refused_each_time(calls: list[str]) -> None:
    face = photo("obama.jpg")
    first = analysed_once.face_encoding_once(face)
    first[:] = 0
    assert np.linalg.norm(analysed_once.face_encoding_once(face.copy())) > 0
    assert calls == ["face_encoding"]

    wall = np.full((120, 160, 3), 90, dtype=np.uint8)
    for _ in range(2):
        with pytest.raises(FaceProblem):
            analysed_once.face_encoding_once(wall)
    assert calls == ["face_encoding"] * 3
