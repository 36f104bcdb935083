"""decode_image: untrusted bytes become an upright BGR uint8 array, or a typed error."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facematch.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat
from facematch.images import decode_image

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 25_000_000}
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def half_red_half_blue(mode: str = "RGB", size: tuple[int, int] = (40, 20)) -> Image.Image:
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image.convert(mode)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width x height RGB pixels, with one empty IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def assert_bgr(array: np.ndarray, shape: tuple[int, int]) -> None:
    assert array.dtype == np.uint8
    assert array.shape == (*shape, 3)


def assert_colour(pixel: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> None:
    bgr = np.array(rgb[::-1], dtype=int)
    assert np.all(np.abs(pixel.astype(int) - bgr) <= tolerance), (pixel, rgb)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is not an image", b"<html><body>nope</body></html>"],
    ids=["empty", "text", "html"],
)
def test_non_image_bytes_are_invalid_image(data):
    with pytest.raises(InvalidImage) as caught:
        decode_image(data, **LIMITS)
    assert caught.value.code == "INVALID_IMAGE" and caught.value.status == 400


def test_truncated_jpeg_is_invalid_image():
    data = encode(half_red_half_blue(size=(200, 200)), "JPEG", quality=95)
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 2], **LIMITS)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_formats_other_than_jpeg_png_webp_are_unsupported(fmt):
    with pytest.raises(UnsupportedImageFormat) as caught:
        decode_image(encode(half_red_half_blue(), fmt), **LIMITS)
    assert caught.value.code == "UNSUPPORTED_IMAGE_FORMAT" and caught.value.status == 415


def test_bytes_over_max_bytes_are_too_large_before_parsing():
    data = encode(half_red_half_blue(), "PNG")
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_bytes=len(data) - 1, max_pixels=LIMITS["max_pixels"])
    assert caught.value.code == "IMAGE_TOO_LARGE" and caught.value.status == 413
    assert decode_image(data, max_bytes=len(data), max_pixels=800).shape == (20, 40, 3)


def test_pixel_bomb_is_refused_from_its_header_without_decoding():
    data = png_header_only(100_000, 100_000)  # 10^10 pixels, 30 GB decoded; the file is tiny
    assert len(data) < 100
    with pytest.raises(ImageTooLarge, match="100000x100000"):
        decode_image(data, **LIMITS)


def test_pixel_limit_is_inclusive():
    data = encode(half_red_half_blue(), "PNG")  # 40 x 20 = 800 pixels
    assert decode_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=800).shape == (20, 40, 3)
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=799)


def test_jpeg_decodes_to_bgr_channel_order():
    array = decode_image(encode(half_red_half_blue(), "JPEG", quality=95), **LIMITS)
    assert_bgr(array, (20, 40))
    assert array.flags["C_CONTIGUOUS"]
    left, right = array[:, :15], array[:, 25:]
    assert left[..., 2].min() > 200 and left[..., 0].max() < 60  # red lives in channel 2
    assert right[..., 0].min() > 200 and right[..., 2].max() < 60  # blue lives in channel 0


def test_transparent_png_background_flattens_onto_white_not_black():
    image = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    image.paste((0, 255, 0, 255), (10, 10, 20, 20))
    array = decode_image(encode(image, "PNG"), **LIMITS)
    assert_bgr(array, (30, 30))
    assert_colour(array[0, 0], WHITE, tolerance=0)
    assert_colour(array[15, 15], GREEN, tolerance=0)


def test_palette_png_with_transparency_flattens_onto_white():
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 - 2) * 3)
    image.paste(1, (0, 0, 5, 10))
    array = decode_image(encode(image, "PNG", transparency=0), **LIMITS)
    assert_colour(array[5, 2], RED, tolerance=0)
    assert_colour(array[5, 8], WHITE, tolerance=0)


@pytest.mark.parametrize(
    ("mode", "fmt", "left", "right"),
    [
        ("L", "PNG", (76, 76, 76), (29, 29, 29)),  # ITU-R 601 luma of red and blue
        ("P", "PNG", RED, BLUE),
        ("CMYK", "JPEG", RED, BLUE),
        ("RGB", "WEBP", RED, BLUE),
        ("RGBA", "WEBP", RED, BLUE),
    ],
)
def test_other_modes_and_webp_decode_to_bgr_with_the_right_colours(mode, fmt, left, right):
    array = decode_image(encode(half_red_half_blue(mode), fmt, quality=95), **LIMITS)
    assert_bgr(array, (20, 40))
    assert_colour(array[10, 5], left)
    assert_colour(array[10, 35], right)


def test_exif_orientation_is_applied_so_the_array_is_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    data = encode(half_red_half_blue(size=(40, 20)), "JPEG", quality=95, exif=exif.tobytes())
    array = decode_image(data, **LIMITS)
    assert_bgr(array, (40, 20))
    # Rotating clockwise puts the stored left (red) half on top.
    assert_colour(array[5, 10], RED)
    assert_colour(array[35, 10], BLUE)


@pytest.mark.parametrize(
    ("fmt", "keep"),
    [("JPEG", 200), ("WEBP", 40)],
    ids=["jpeg-cut-in-header", "webp-cut-in-header"],
)
def test_an_image_cut_inside_its_header_is_invalid_image(fmt, keep):
    data = encode(half_red_half_blue(), fmt)
    with pytest.raises(InvalidImage):
        decode_image(data[:keep], **LIMITS)


def test_a_multi_picture_jpeg_from_a_phone_decodes_its_first_frame():
    frame = half_red_half_blue()
    data = encode(frame, "MPO", save_all=True, append_images=[frame])
    assert data[:2] == b"\xff\xd8"  # it is a JPEG file
    array = decode_image(data, **LIMITS)
    assert_bgr(array, (20, 40))
    assert_colour(array[10, 5], RED)


def test_a_16_bit_grayscale_png_keeps_its_tones():
    data = encode(Image.new("I;16", (8, 8), 32768), "PNG")  # mid grey
    assert_colour(decode_image(data, **LIMITS)[0, 0], (128, 128, 128), tolerance=2)
