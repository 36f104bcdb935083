"""Request constraints (organization names) and the NothingEnrolled error's code and body."""

from __future__ import annotations

import pytest

from facematch.errors import (
    FaceMatchError,
    ImageTooLarge,
    InvalidImage,
    InvalidRequest,
    NoFaceDetected,
    NothingEnrolled,
    UnsupportedImageFormat,
)
from facematch.inputs import parse_organization


@pytest.mark.parametrize(
    "name",
    ["a", "7", "x" * 64, "Acme.Corp_2024-eu", "a..", "a-", "7_", "A" + "b" * 62 + "9"],
)
def test_organization_of_1_to_64_letters_digits_dots_underscores_hyphens_from_a_letter_or_digit_is_accepted(name):
    assert parse_organization(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 65,
        "acme corp",
        " acme",
        "acme/eu",
        "../acme",
        "acme\n",
        "\nacme",
        "acme\t",
        "café",
        "ａｃｍｅ",  # full-width letters
        "acme٣",  # Arabic-Indic digit
        "acme\x00",
        ".",  # this folder, in S3 keys and URLs
        "..",  # the folder above
        "...",
        ".hidden",
        "-",
        "-rf",
        "_x",
    ],
    ids=repr,
)
def test_organization_outside_the_pattern_is_a_validation_error(name):
    with pytest.raises(InvalidRequest) as caught:
        parse_organization(name)
    assert caught.value.code == "VALIDATION_ERROR" and caught.value.status == 400


ERRORS = {cls.code: cls for cls in (NoFaceDetected, InvalidImage, UnsupportedImageFormat, ImageTooLarge)}


def failure(image: str, code: str) -> tuple[str, FaceMatchError]:
    return image, ERRORS[code](f"{code} for {image}")


def test_nothing_enrolled_takes_the_code_and_status_all_failures_share():
    error = NothingEnrolled([failure("a", "NO_FACE_DETECTED"), failure("b", "NO_FACE_DETECTED")])
    assert error.code == "NO_FACE_DETECTED" and error.status == 422
    error = NothingEnrolled([failure("a.gif", "UNSUPPORTED_IMAGE_FORMAT")])
    assert error.code == "UNSUPPORTED_IMAGE_FORMAT" and error.status == 415


def test_nothing_enrolled_with_mixed_codes_is_nothing_enrolled_422():
    failures = [failure("a.jpg", "NO_FACE_DETECTED"), failure("b.gif", "UNSUPPORTED_IMAGE_FORMAT")]
    error = NothingEnrolled(failures)
    assert error.code == "NOTHING_ENROLLED" and error.status == 422
    NothingEnrolled([failure("c", "INVALID_IMAGE")])
    assert (NothingEnrolled.code, NothingEnrolled.status) == ("NOTHING_ENROLLED", 422)  # never leaks onto the class


def test_nothing_enrolled_body_has_error_empty_embeddings_and_the_failures():
    body = NothingEnrolled([failure("a.jpg", "INVALID_IMAGE"), failure("1", "IMAGE_TOO_LARGE")]).response_body()
    assert body == {
        "error": {
            "code": "NOTHING_ENROLLED",
            "message": "None of the 2 image(s) could be enrolled.",
        },
        "embeddings": [],
        "failed": [
            {"image": "a.jpg", "error": {"code": "INVALID_IMAGE", "message": "INVALID_IMAGE for a.jpg"}},
            {"image": "1", "error": {"code": "IMAGE_TOO_LARGE", "message": "IMAGE_TOO_LARGE for 1"}},
        ],
    }
