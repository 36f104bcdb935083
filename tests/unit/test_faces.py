"""FaceMatch's face pipeline around the networks: detection on a small copy, boxes in the photo's
pixels, unit vectors. The networks are the stub ones; the real model's tests are in integration."""

from __future__ import annotations

import numpy as np
import pytest

from facematch.errors import NoFaceDetected
from facematch.faces import FaceEmbedder
from facematch.images import decode_image
from facematch_testing.stub_faces import StubDetector, StubModel
from facematch_testing.synthetic import synthetic_photo


class RecordingDetector(StubDetector):
    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def detect_faces(self, image_bgr):
        self.seen.append(image_bgr.shape)
        return super().detect_faces(image_bgr)


def embedder(detector, max_side: int = 480) -> FaceEmbedder:
    return FaceEmbedder("Dlib", "dlib", max_side, model=StubModel(), detector=detector)


def pixels(photo: bytes) -> np.ndarray:
    return decode_image(photo, max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9)


def test_detection_runs_on_a_copy_no_longer_than_the_configured_side_and_the_box_is_in_full_pixels():
    detector = RecordingDetector()
    face = embedder(detector).embed(pixels(synthetic_photo("alice", size=(1600, 1200))))
    assert detector.seen == [(360, 480, 3)]
    # synthetic_photo draws the face at (width / 8, height / 4), half the short side wide.
    assert (face.box.x, face.box.y, face.box.w, face.box.h) == (200, 300, 600, 600)


def test_a_photo_within_the_detection_size_is_detected_as_it_is():
    detector = RecordingDetector()
    embedder(detector).embed(pixels(synthetic_photo("alice", size=(400, 300))))
    assert detector.seen == [(300, 400, 3)]


def test_the_largest_face_is_embedded_and_every_face_counted():
    face = embedder(StubDetector()).embed(pixels(synthetic_photo("alice", faces=3)))
    alone = embedder(StubDetector()).embed(pixels(synthetic_photo("alice", 1)))
    assert face.faces_in_image == 3
    assert float(face.vector @ alone.vector) > 0.93


class SteppedDetector(StubDetector):
    """Boxes in steps, as dlib's come (its 129 px box stands for faces of 118 to 141 px), while the
    eyes stay where they are."""

    def detect_faces(self, image_bgr):
        regions = super().detect_faces(image_bgr)
        for region in regions:
            region.w = region.h = 129
        return sorted(regions, key=lambda region: region.x)  # the small face first, as a tie would leave it


def large_and_small_face() -> np.ndarray:
    """Two faces of 160 and 120 pixels on a 480 x 360 photo, the small one first from the left."""
    image = np.full((360, 480, 3), 220, np.uint8)
    small, large = pixels(synthetic_photo("bob", size=(240, 240))), pixels(synthetic_photo("alice", size=(320, 320)))
    image[40 : 40 + 120, 20 : 20 + 120] = small[60:180, 30:150]
    image[40 : 40 + 160, 240 : 240 + 160] = large[80:240, 40:200]
    return image


def test_the_largest_face_is_ranked_at_full_resolution_by_its_eyes_not_by_the_detectors_box_steps():
    image = large_and_small_face()
    regions = embedder(SteppedDetector()).detect(image)
    assert [region.w for region in regions] == [129, 129]
    assert [region.x for region in regions] == [240, 20]  # the 160 px face first
    face = embedder(SteppedDetector()).embed(image)
    assert face.box.x == 240 and face.faces_in_image == 2


def test_every_face_is_embedded_largest_first_up_to_the_limit():
    photo = synthetic_photo("alice", size=(1200, 400), faces=4)
    faces, found = embedder(StubDetector()).embed_photo_faces(photo, max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9, max_faces=3)
    assert found == 4 and len(faces) == 3
    assert [face.box.w for face in faces] == sorted((face.box.w for face in faces), reverse=True)
    largest = embedder(StubDetector()).embed(pixels(photo))
    assert np.array_equal(faces[0].vector, largest.vector)
    assert len({face.box.x for face in faces}) == 3


def test_the_vector_is_a_float32_unit_vector_of_the_models_length():
    face = embedder(StubDetector()).embed(pixels(synthetic_photo("alice")))
    assert face.vector.dtype == np.float32 and face.vector.shape == (128,)
    assert float(np.linalg.norm(face.vector)) == pytest.approx(1.0, abs=1e-6)


def test_a_photo_without_a_face_is_no_face_detected():
    blank = np.full((240, 320, 3), 200, dtype=np.uint8)
    with pytest.raises(NoFaceDetected):
        embedder(StubDetector()).embed(blank)


def test_the_default_threshold_is_deepfaces_cosine_threshold_for_the_model():
    assert embedder(StubDetector()).default_threshold == 0.07


def test_a_region_found_on_the_small_copy_is_scaled_back_whole_eyes_nose_and_mouth_included():
    from deepface.models.Detector import FacialAreaRegion

    from facematch.faces import _rescale

    region = FacialAreaRegion(
        x=10, y=20, w=30, h=40, left_eye=(11, 21), right_eye=(12, 22), confidence=0.5,
        nose=(13, 23), mouth_left=(14, 24), mouth_right=(15, 25),
    )
    scaled = _rescale(region, 2.5)
    assert (scaled.x, scaled.y, scaled.w, scaled.h, scaled.confidence) == (25, 50, 75, 100, 0.5)
    assert (scaled.left_eye, scaled.right_eye, scaled.nose, scaled.mouth_left, scaled.mouth_right) == (
        (28, 52), (30, 55), (32, 58), (35, 60), (38, 62)
    )
    bare = _rescale(FacialAreaRegion(x=1, y=1, w=2, h=2, left_eye=None, right_eye=None), 2.0)
    assert (bare.left_eye, bare.right_eye, bare.nose, bare.mouth_left, bare.mouth_right) == (None,) * 5
