"""Enrolment and 1:1 verification on real photographs (../shared/fixtures/faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from identity.faces import (
    FaceProblem,
    face_template,
    face_verify,
    image_from_bytes,
    template_from_bytes,
    template_to_bytes,
)

FACES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "faces"


def photo(name: str) -> np.ndarray:
    return image_from_bytes((FACES / name).read_bytes())


@pytest.fixture(scope="module")
def obama_template() -> np.ndarray:
    image = photo("obama.jpg")
    # Three slightly different crops stand in for three webcam frames.
    return face_template([image, image[5:, 5:], image[:-5, :-5]])


def test_the_same_person_matches(obama_template: np.ndarray) -> None:
    match = face_verify(obama_template, photo("obama2.jpg"))
    assert match.matched
    assert match.distance < 0.45


@pytest.mark.parametrize("other", ["biden.jpg", "john1.jpeg"])
def test_a_different_person_does_not_match(obama_template: np.ndarray, other: str) -> None:
    match = face_verify(obama_template, photo(other))
    assert not match.matched
    assert match.distance > 0.7


def test_two_faces_in_view_are_refused_with_a_reason(obama_template: np.ndarray) -> None:
    with pytest.raises(FaceProblem, match="More than one face"):
        face_verify(obama_template, photo("two_people.jpg"))


def test_no_face_is_refused_with_a_reason(obama_template: np.ndarray) -> None:
    with pytest.raises(FaceProblem, match="No face was found"):
        face_verify(obama_template, np.full((480, 640, 3), 90, dtype=np.uint8))


def test_bytes_that_are_not_a_picture_are_refused() -> None:
    with pytest.raises(FaceProblem, match="could not be read"):
        image_from_bytes(b"definitely not a jpeg")


def test_enrolment_refuses_frames_of_different_people() -> None:
    with pytest.raises(FaceProblem, match="do not agree"):
        face_template([photo("obama.jpg"), photo("biden.jpg"), photo("obama2.jpg")])


def test_a_template_survives_storage(obama_template: np.ndarray) -> None:
    assert np.array_equal(template_from_bytes(template_to_bytes(obama_template)), obama_template)
