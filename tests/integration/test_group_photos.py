"""Group photos with the real model: every face found, ranked by its size at full resolution, and
identified once each person is enrolled from a crop of their own face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facematch.images import decode_image
from facematch_testing.api import compare, enroll
from facematch_testing.photos import photo

pytestmark = pytest.mark.usefixtures("aws")


def pixels(content: bytes) -> np.ndarray:
    return decode_image(content, max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9)


def crop(image: np.ndarray, region, margin: float = 0.6) -> bytes:
    """The face and some of its surroundings, as a JPEG: what a person would upload of themselves."""
    pad_x, pad_y = int(region.w * margin), int(region.h * margin)
    top, left = max(0, region.y - pad_y), max(0, region.x - pad_x)
    ok, encoded = cv2.imencode(".jpg", image[top : region.y + region.h + pad_y, left : region.x + region.w + pad_x])
    assert ok
    return encoded.tobytes()


def overlap(a: dict, b) -> float:
    """Intersection over union of a box of the answer and a detected region."""
    width = min(a["x"] + a["w"], b.x + b.w) - max(a["x"], b.x)
    height = min(a["y"] + a["h"], b.y + b.h) - max(a["y"], b.y)
    inter = max(0, width) * max(0, height)
    return inter / (a["w"] * a["h"] + b.w * b.h - inter)


def test_the_face_enrolled_from_couple_jpg_is_the_larger_at_full_resolution(
    model_api_app, lambda_context, faces_dir, organization
):
    # At the 480 px detection copy both faces are 129 x 129; at full size they are about 665 and
    # 554 pixels wide, the larger on the left.
    status, body = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, "couple.jpg")])
    assert status == 201, body
    (embedding,) = body["embeddings"]
    assert embedding["faces_in_image"] == 2
    assert embedding["face"]["x"] < 1000


def test_the_larger_face_wins_whichever_side_it_is_on(model_api_app, lambda_context, faces_dir, organization):
    mirrored = cv2.flip(pixels(photo(faces_dir, "couple.jpg")[1]), 1)
    ok, encoded = cv2.imencode(".jpg", mirrored)
    status, body = enroll(model_api_app, lambda_context, organization, [("couple-mirrored.jpg", encoded.tobytes())])
    assert status == 201, body
    assert body["embeddings"][0]["face"]["x"] > 1000


@pytest.mark.parametrize("group", ["couple.jpg", "selfie-many-people.jpg"])
def test_every_face_of_a_group_photo_is_identified_once_each_person_is_enrolled_from_a_crop(
    model_api_app, model_matching_app, lambda_context, faces_dir, organization, group
):
    content = photo(faces_dir, group)[1]
    image = pixels(content)
    regions = model_matching_app.service.embedder.detect(image)
    assert len(regions) >= 2
    for number, region in enumerate(regions):
        status, body = enroll(
            model_api_app, lambda_context, organization, [(f"crop-{number}.jpg", crop(image, region))],
            external_id=f"person-{number}",
        )
        assert status == 201, body

    status, body = compare(model_matching_app, lambda_context, organization, (group, content), faces="all")
    assert status == 200, body
    assert body["faces_left_out"] == 0 and len(body["faces"]) == len(regions)
    for entry in body["faces"]:
        number = max(range(len(regions)), key=lambda n: overlap(entry["face"], regions[n]))
        assert overlap(entry["face"], regions[number]) > 0.8
        assert entry["external_id"] == f"person-{number}", entry
        assert entry["match"] is True, entry
    assert body["faces"][0]["embed_id"] == body["embed_id"]
