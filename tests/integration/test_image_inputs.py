"""Photos from anywhere, through the API: each bad one gets its documented code (stub faces), each
unusual one enrolls (the real model, on a shared photo)."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from PIL import Image

from facematch_testing.api import enroll, invoke
from facematch_testing.events import multipart_event
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def encode(image: Image.Image, format_: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's signature."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def face(faces_dir) -> Image.Image:
    photo = Image.open(faces_dir / "img1.jpg").convert("RGB")
    photo.thumbnail((800, 800))  # every format below stays under the API's 4 MiB
    return photo


@pytest.fixture(scope="module")
def synthetic_face() -> Image.Image:
    return Image.open(io.BytesIO(synthetic_photo("alice", size=(800, 600)))).convert("RGB")


def enroll_one(api_app, lambda_context, organization, name, content):
    return enroll(api_app, lambda_context, organization, [(name, content)])


BAD_INPUTS = {
    "empty file": (lambda face: b"", 400, "INVALID_IMAGE"),
    "text named .jpg": (lambda face: b"Dear diary, today I took no photo.", 400, "INVALID_IMAGE"),
    "truncated JPEG": (lambda face: encode(face, "JPEG")[: len(encode(face, "JPEG")) // 2], 400, "INVALID_IMAGE"),
    "PNG declaring 100000x100000": (lambda face: png_declaring(100_000, 100_000), 413, "IMAGE_TOO_LARGE"),
    "GIF": (lambda face: encode(face.resize((200, 300)), "GIF"), 415, "UNSUPPORTED_IMAGE_FORMAT"),
    "BMP": (lambda face: encode(face.resize((200, 300)), "BMP"), 415, "UNSUPPORTED_IMAGE_FORMAT"),
    "over 4 MiB": (lambda face: encode(face, "PNG") + b"\0" * (4 * 1024 * 1024), 413, "IMAGE_TOO_LARGE"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_image_gets_its_documented_status_and_code(
    api_app, lambda_context, organization, synthetic_face, case
):
    make, status, code = BAD_INPUTS[case]
    got_status, body = enroll_one(api_app, lambda_context, organization, "photo.jpg", make(synthetic_face))
    assert (got_status, body["error"]["code"]) == (status, code), body


@pytest.mark.parametrize("length", [256, 4096, 500_000])
def test_a_file_name_over_255_characters_is_refused_without_echoing_it(
    api_app, matching_app, lambda_context, organization, synthetic_face, length
):
    name = "n" * (length - 4) + ".jpg"
    photo = encode(synthetic_face, "JPEG", quality=90)
    status, body = enroll_one(api_app, lambda_context, organization, name, photo)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), str(body)[:300]
    assert name not in str(body)
    event = multipart_event("compare-multipart.json", [("organization", organization)], [("image", name, photo)])
    status, body = invoke(matching_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), str(body)[:300]


def test_a_file_name_of_255_characters_enrolls(api_app, lambda_context, organization, synthetic_face):
    name = "n" * 251 + ".jpg"
    status, body = enroll_one(
        api_app, lambda_context, organization, name, encode(synthetic_face, "JPEG", quality=90)
    )
    assert status == 201, body
    assert body["embeddings"][0]["image"] == name


def _exif_rotated(face: Image.Image) -> bytes:
    """Pixels stored sideways with EXIF orientation 6: viewers (and FaceMatch) turn them upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(face.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif.tobytes())


UNUSUAL_INPUTS = {
    "CMYK JPEG": lambda face: encode(face.convert("CMYK"), "JPEG", quality=92),
    "RGBA PNG": lambda face: encode(face.convert("RGBA"), "PNG"),
    "grayscale JPEG": lambda face: encode(face.convert("L"), "JPEG", quality=92),
    "palette PNG": lambda face: encode(face.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    "WebP": lambda face: encode(face, "WEBP", quality=90),
    "EXIF-rotated JPEG": _exif_rotated,
}


@pytest.mark.parametrize("case", UNUSUAL_INPUTS, ids=list(UNUSUAL_INPUTS))
def test_an_unusual_but_valid_photo_enrolls(model_api_app, lambda_context, organization, face, case):
    status, body = enroll_one(model_api_app, lambda_context, organization, "photo", UNUSUAL_INPUTS[case](face))
    assert status == 201, body
    assert body["embeddings"][0]["faces_in_image"] == 1


def test_the_exif_orientation_is_what_makes_the_sideways_photo_usable(
    model_api_app, lambda_context, organization, face
):
    sideways = encode(face.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92)  # no EXIF tag
    status, body = enroll_one(model_api_app, lambda_context, organization, "sideways.jpg", sideways)
    assert (status, body["error"]["code"]) == (422, "NO_FACE_DETECTED")


def test_logs_never_contain_image_bytes_embeddings_or_api_keys(
    api_app, matching_app, lambda_context, organization, synthetic_face, capsys
):
    photo = encode(synthetic_face, "JPEG", quality=90)
    event = multipart_event("enroll-multipart.json", [("organization", organization)], [("images", "p.jpg", photo)])
    event["headers"]["x-api-key"] = "fmk_0123456789ab_super-secret-value"
    status, body = invoke(api_app, event, lambda_context)
    assert status == 201
    event = multipart_event("enroll-multipart.json", [("organization", organization), ("include_embedding", "true")], [("images", "q.jpg", b"junk")])
    invoke(api_app, event, lambda_context)
    compare = multipart_event("compare-multipart.json", [("organization", organization)], [("image", "p.jpg", photo)])
    compare["headers"]["x-api-key"] = "fmk_0123456789ab_super-secret-value"
    invoke(matching_app, compare, lambda_context)
    logged = capsys.readouterr()
    output = logged.out + logged.err
    assert "super-secret-value" not in output
    assert event["body"][:64] not in output and compare["body"][200:264] not in output
    assert '"embedding"' not in output
    assert not re.search(r"(-?\d\.\d+,\s*){8}", output), "a vector's numbers were logged"
