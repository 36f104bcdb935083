"""The quality gate of POST /api/embeddings and of uploads, on the stub face networks: a small
face is FACE_TOO_SMALL, a blurred one LOW_SHARPNESS, each a failed image with its code."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageFilter

from facematch.aws import client
from facematch_testing.api import enroll, request
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]


def blurred(photo: bytes, radius: float) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).filter(ImageFilter.GaussianBlur(radius)).save(buffer, "PNG")
    return buffer.getvalue()


# The stub's face is half the photo's shorter side, its eyes 0.4 of that apart: 120 x 120 has 24
# pixels between the eyes (auto needs 12, high 32), 56 x 56 has 11. Blur of radius 4 leaves a
# sharpness of about 21 (auto needs 3.5, high 50), radius 12 about 3.
SHARP = ("sharp.jpg", synthetic_photo("ann"))
MEDIUM = ("medium.jpg", synthetic_photo("ann", 1, size=(120, 120)))
TINY = ("tiny.jpg", synthetic_photo("ann", 2, size=(56, 56)))
SOFT = ("soft.png", blurred(synthetic_photo("ann", 3), 4))
BLURRED = ("blurred.png", blurred(synthetic_photo("ann", 4), 12))


def outcome(body: dict) -> dict[str, str]:
    """Each photo's fate: "stored", or its error code."""
    fates = {embedding["image"]: "stored" for embedding in body.get("embeddings", [])}
    return fates | {failure["image"]: failure["error"]["code"] for failure in body.get("failed", [])}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("none", {"sharp.jpg": "stored", "medium.jpg": "stored", "tiny.jpg": "stored", "soft.png": "stored", "blurred.png": "stored"}),
        ("auto", {"sharp.jpg": "stored", "medium.jpg": "stored", "tiny.jpg": "FACE_TOO_SMALL", "soft.png": "stored", "blurred.png": "LOW_SHARPNESS"}),
        ("high", {"sharp.jpg": "stored", "medium.jpg": "FACE_TOO_SMALL", "tiny.jpg": "FACE_TOO_SMALL", "soft.png": "LOW_SHARPNESS", "blurred.png": "LOW_SHARPNESS"}),
    ],
)
def test_each_level_refuses_the_faces_below_its_size_and_sharpness_as_failed_images_with_their_code(
    api_app, lambda_context, organization, level, expected
):
    status, body = enroll(api_app, lambda_context, organization, [SHARP, MEDIUM, TINY, SOFT, BLURRED], quality_filter=level)
    assert status == 201, body
    assert outcome(body) == expected
    stored = sum(fate == "stored" for fate in expected.values())
    _, held = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    assert len(held["embeddings"]) == stored


def test_the_default_is_no_filter(api_app, lambda_context, organization):
    status, body = enroll(api_app, lambda_context, organization, [TINY, BLURRED])
    assert status == 201 and outcome(body) == {"tiny.jpg": "stored", "blurred.png": "stored"}


def test_a_request_whose_every_face_is_refused_is_the_refusal_itself_and_stores_nothing(
    api_app, lambda_context, organization
):
    status, body = enroll(api_app, lambda_context, organization, [TINY], quality_filter="auto")
    assert (status, body["error"]["code"]) == (422, "FACE_TOO_SMALL")
    assert "11 pixels between the eyes" in body["failed"][0]["error"]["message"]
    status, body = enroll(api_app, lambda_context, organization, [TINY, BLURRED], quality_filter="auto")
    assert (status, body["error"]["code"]) == (422, "NOTHING_ENROLLED")
    assert outcome(body) == {"tiny.jpg": "FACE_TOO_SMALL", "blurred.png": "LOW_SHARPNESS"}
    assert api_app.service.vectors.refresh(organization, "Dlib") == 0


@pytest.mark.parametrize("field", ["quality_filter", "on_duplicate"])
@pytest.mark.parametrize("value", ["", "AUTO", "strict", "none " * 10])
def test_an_unknown_option_value_is_a_400_and_stores_nothing(api_app, lambda_context, organization, field, value):
    status, body = enroll(api_app, lambda_context, organization, [SHARP], **{field: value})
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
    assert field in body["error"]["message"]
    assert api_app.service.vectors.refresh(organization, "Dlib") == 0


def uploaded(api_app, lambda_context, organization, name: str, photo: bytes, **metadata: str) -> dict:
    """Drop a photo into the inbox with this metadata, deliver it, and return its outcome."""
    from facematch.inputs import S3Upload

    key = f"uploads/{organization}/{name}"
    response = client("s3").put_object(Bucket=BUCKET, Key=key, Body=photo, Metadata=metadata)
    return api_app.service.uploads.enroll(S3Upload(bucket=BUCKET, key=key, version_id=response.get("VersionId"))).model_dump()


def test_an_upload_takes_its_quality_filter_from_its_metadata(api_app, lambda_context, organization):
    refused = uploaded(api_app, lambda_context, organization, "tiny.jpg", TINY[1], **{"quality-filter": "auto"})
    assert (refused["status"], refused["error"]["code"]) == ("failed", "FACE_TOO_SMALL")
    kept = uploaded(api_app, lambda_context, organization, "tiny-2.jpg", TINY[1])
    assert kept["status"] == "enrolled"


@pytest.mark.parametrize("metadata", [{"quality-filter": "extreme"}, {"on-duplicate": "merge"}])
def test_an_upload_with_an_unknown_option_in_its_metadata_is_failed_and_enrolls_nothing(
    api_app, lambda_context, organization, metadata
):
    result = uploaded(api_app, lambda_context, organization, "a.jpg", SHARP[1], **metadata)
    assert (result["status"], result["error"]["code"]) == ("failed", "VALIDATION_ERROR")
    assert api_app.service.vectors.refresh(organization, "Dlib") == 0
