"""decode_image: untrusted bytes become an upright BGR uint8 array, or a typed error."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from facematch import images
from facematch.config import Settings
from facematch.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat
from facematch.images import decode_image

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 25_000_000, "max_decoded_bytes": 75_000_000}
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def half_red_half_blue(mode: str = "RGB", size: tuple[int, int] = (40, 20)) -> Image.Image:
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image.convert(mode)


def png_header_only(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A tiny PNG whose IHDR declares width x height pixels (8-bit RGB unless told), with one
    empty IDAT: its header opens, its pixels cannot be decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
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
        decode_image(data, **{**LIMITS, "max_bytes": len(data) - 1})
    assert caught.value.code == "IMAGE_TOO_LARGE" and caught.value.status == 413
    assert decode_image(data, **{**LIMITS, "max_bytes": len(data), "max_pixels": 800}).shape == (20, 40, 3)


def test_pixel_bomb_is_refused_from_its_header_without_decoding():
    data = png_header_only(100_000, 100_000)  # 10^10 pixels, 30 GB decoded; the file is tiny
    assert len(data) < 100
    with pytest.raises(ImageTooLarge, match="100000x100000"):
        decode_image(data, **LIMITS)


def test_pixel_limit_is_inclusive():
    data = encode(half_red_half_blue(), "PNG")  # 40 x 20 = 800 pixels
    assert decode_image(data, **{**LIMITS, "max_pixels": 800}).shape == (20, 40, 3)
    with pytest.raises(ImageTooLarge):
        decode_image(data, **{**LIMITS, "max_pixels": 799})


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


# Decoded size: width x height x channels x bytes per channel, read from the header.

BYTES_PER_PIXEL = {
    "1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2,
    "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4, "I": 4, "F": 4,
}


def fail_if_decoded(monkeypatch) -> None:
    def load(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_16_bit_image_within_the_pixel_limit_is_refused_for_its_decoded_size_before_decoding():
    data = png_header_only(3000, 2000, bit_depth=16, colour_type=0)  # 6 MP of 2 bytes: 12 MB
    limits = {**LIMITS, "max_decoded_bytes": 11_999_999}
    with pytest.raises(ImageTooLarge, match="3000x2000 pixels of mode I;16, 12000000 bytes") as caught:
        decode_image(data, **limits)
    assert caught.value.code == "IMAGE_TOO_LARGE" and caught.value.status == 413
    assert "the limit is 11999999 bytes" in caught.value.message
    # The body holds no pixels: had the limit let it through, decoding would have failed.
    with pytest.raises(InvalidImage):
        decode_image(data, **{**limits, "max_decoded_bytes": 12_000_000})


def test_a_40_megapixel_rgba_png_passes_the_pixel_limit_but_not_the_default_decoded_size():
    defaults = {name: Settings.model_fields[name].default for name in ("max_image_pixels", "max_decoded_bytes")}
    assert defaults == {"max_image_pixels": 40_000_000, "max_decoded_bytes": 120_000_000}
    rgba = png_header_only(8000, 5000, colour_type=6)
    with pytest.raises(ImageTooLarge, match="8000x5000 pixels of mode RGBA, 160000000 bytes"):
        decode_image(
            rgba, max_bytes=LIMITS["max_bytes"], max_pixels=defaults["max_image_pixels"],
            max_decoded_bytes=defaults["max_decoded_bytes"],
        )
    rgb = png_header_only(8000, 5000)  # 120 MB: let through to the decoder, which finds no pixels
    with pytest.raises(InvalidImage):
        decode_image(
            rgb, max_bytes=LIMITS["max_bytes"], max_pixels=defaults["max_image_pixels"],
            max_decoded_bytes=defaults["max_decoded_bytes"],
        )


def test_the_decoded_size_limit_refuses_a_real_rgba_image_without_loading_its_pixels(monkeypatch):
    data = encode(half_red_half_blue("RGBA"), "PNG")  # 40 x 20 x 4 = 3,200 bytes
    fail_if_decoded(monkeypatch)
    with pytest.raises(ImageTooLarge, match="40x20 pixels of mode RGBA, 3200 bytes"):
        decode_image(data, **{**LIMITS, "max_decoded_bytes": 3199})


@pytest.mark.parametrize(("mode", "size"), [("RGBA", 3200), ("RGB", 2400), ("L", 800)])
def test_the_decoded_size_limit_is_inclusive(mode, size):
    data = encode(half_red_half_blue(mode), "PNG")  # 40 x 20 pixels
    assert_bgr(decode_image(data, **{**LIMITS, "max_decoded_bytes": size}), (20, 40))
    with pytest.raises(ImageTooLarge):
        decode_image(data, **{**LIMITS, "max_decoded_bytes": size - 1})


@pytest.mark.parametrize(("mode", "per_pixel"), BYTES_PER_PIXEL.items())
def test_each_mode_counts_the_bytes_pillow_decodes_it_into(mode, per_pixel):
    assert images.decoded_size(mode, 3, 2) == 6 * per_pixel
    # What Pillow hands out for the mode: "1" is a byte (a bool) per pixel, not a bit.
    assert np.asarray(Image.new(mode, (3, 2))).nbytes == 6 * per_pixel


def test_only_the_modes_listed_have_a_decoded_size():
    assert images.BYTES_PER_PIXEL == BYTES_PER_PIXEL


@pytest.mark.parametrize(
    ("colour_type", "bit_depth"),
    [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16),
     (6, 8), (6, 16)],
)
def test_every_png_colour_type_and_bit_depth_opens_in_a_mode_with_a_decoded_size(colour_type, bit_depth):
    data = png_header_only(10, 10, bit_depth=bit_depth, colour_type=colour_type)
    assert Image.open(io.BytesIO(data)).mode in BYTES_PER_PIXEL


@pytest.mark.parametrize("mode", ["RGBX", "LAB", "HSV", "La", "RGBa", "no such mode"])
def test_a_mode_without_a_known_decoded_size_is_refused_not_guessed(mode):
    with pytest.raises(UnsupportedImageFormat, match=repr(mode)):
        images.decoded_size(mode, 1, 1)


def test_an_image_whose_mode_has_no_known_decoded_size_is_refused_before_decoding(monkeypatch):
    data = encode(half_red_half_blue("LA"), "PNG")
    monkeypatch.delitem(images.BYTES_PER_PIXEL, "LA")
    fail_if_decoded(monkeypatch)
    with pytest.raises(UnsupportedImageFormat, match="'LA'") as caught:
        decode_image(data, **{**LIMITS, "max_decoded_bytes": 10**12})
    assert caught.value.status == 415


# Same pixels as converting the whole image at once, whatever the strips.


def whole_image(data: bytes) -> np.ndarray:
    """What decode_image answered when it converted the whole image in one go."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return np.ascontiguousarray(np.asarray(images._to_rgb(image))[:, :, ::-1])


def noise(mode: str, size: tuple[int, int] = (23, 50)) -> Image.Image:
    """Random samples in every band (alpha included), 50 rows by 23 columns unless told."""
    rng = np.random.default_rng(7)
    width, height = size
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, (height, width), dtype=np.uint8) * 255).convert("1")
    samples = rng.integers(0, 256, (height, width, len(Image.new(mode, (1, 1)).getbands())), dtype=np.uint8)
    image = Image.frombytes(mode, size, samples.tobytes())
    if mode == "P":
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
    return image


@pytest.mark.parametrize(
    ("mode", "fmt", "params"),
    [
        ("RGBA", "PNG", {}),
        ("LA", "PNG", {}),
        ("P", "PNG", {"transparency": bytes(range(0, 256))}),  # an alpha per palette entry
        ("P", "PNG", {"transparency": 5}),
        ("P", "PNG", {}),
        ("I;16", "PNG", {}),
        ("1", "PNG", {}),
        ("L", "PNG", {}),
        ("RGB", "PNG", {}),
        ("RGB", "JPEG", {"quality": 90}),
        ("CMYK", "JPEG", {"quality": 90}),
        ("RGBA", "WEBP", {"lossless": True}),
    ],
)
def test_converting_strip_by_strip_gives_the_pixels_of_the_whole_image_at_once(monkeypatch, mode, fmt, params):
    data = encode(noise(mode), fmt, **params)
    monkeypatch.setattr(images, "STRIP_PIXELS", 7 * 23 + 5)  # strips of 7 rows, the last of 1
    array = decode_image(data, **LIMITS)
    assert_bgr(array, (50, 23))
    assert array.flags["C_CONTIGUOUS"] and array.flags["WRITEABLE"]
    np.testing.assert_array_equal(array, whole_image(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_the_array_as_pillow_turns_the_image(monkeypatch, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(noise("RGB"), "PNG", exif=exif.tobytes())
    monkeypatch.setattr(images, "STRIP_PIXELS", 7 * 23)
    array = decode_image(data, **LIMITS)
    assert array.shape == ((23, 50, 3) if orientation >= 5 else (50, 23, 3))
    assert array.flags["C_CONTIGUOUS"] and array.flags["WRITEABLE"]
    np.testing.assert_array_equal(array, whole_image(data))


def test_flattening_transparency_makes_no_full_size_copy_of_the_pixels():
    """Python and numpy allocations while decoding (tracemalloc sees no Pillow buffer): the array
    returned and one strip's bytes (twice while Pillow joins them); no whole-image bytes or array
    beside it, as converting the whole image at once held (about twice the array more)."""
    x = np.broadcast_to(np.linspace(0, 255, 1600).astype(np.uint8), (1200, 1600))
    y = np.broadcast_to(np.linspace(0, 255, 1200).astype(np.uint8)[:, None], (1200, 1600))
    data = encode(Image.frombytes("RGBA", (1600, 1200), np.dstack([x, y, x ^ y, x // 2 + y // 2]).tobytes()), "PNG")
    tracemalloc.start()
    try:
        array = decode_image(data, **LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.nbytes == 1200 * 1600 * 3
    assert peak < array.nbytes + 2 * 4 * images.STRIP_PIXELS + len(data)
