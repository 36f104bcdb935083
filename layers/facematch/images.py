"""Turns untrusted bytes into a pixel array, or a typed error. Every input path decodes here."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from facematch.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat

# Pillow names a JPEG that carries extra pictures (as phone cameras write them) "MPO".
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})

# We enforce our own pixel limit before decoding, so Pillow's bomb check must not pre-empt it.
Image.MAX_IMAGE_PIXELS = None

# The bytes one decoded pixel of each Pillow mode holds: its bands times the bytes of one sample,
# as Pillow hands the pixels out (numpy.asarray of the image). Every mode Pillow's JPEG, MPO, PNG
# and WebP decoders open images in is here (JPEG: L, RGB, CMYK; PNG: 1, L, P, LA, I;16, RGB,
# RGBA, its 16-bit colour decoded to 8 bits; WebP: RGB, RGBA), and a few other single-sample or
# byte-sample modes; a mode that is not is refused, never guessed small. (In its own buffer Pillow
# pads a 2- or 3-band pixel to 4 bytes; the limit counts the samples, as Settings.max_decoded_bytes
# defines it.)
BYTES_PER_PIXEL: dict[str, int] = {
    "1": 1,  # one byte per pixel (0 or 255), not one bit
    "L": 1,
    "P": 1,  # an index into the palette
    "LA": 2,
    "PA": 2,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "I;16N": 2,
    "RGB": 3,
    "YCbCr": 3,
    "RGBA": 4,
    "CMYK": 4,
    "I": 4,  # 32-bit integers
    "F": 4,  # 32-bit floats
}

# The pixels converted at a time: each strip's temporary copies stay a few megabytes, so a photo
# costs Pillow's decoded buffer and the array returned, not several full-size copies (an EXIF turn
# copies the array once more, after Pillow's buffer is freed). bench/decode_memory.py measures it.
STRIP_PIXELS = 1 << 18

# How each EXIF orientation is turned upright (as PIL.ImageOps.exif_transpose turns it), on an
# array of rows by columns. Other values, 1 among them, leave the array as it is.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.transpose(1, 0, 2),  # TRANSPOSE
    6: lambda a: a[::-1].transpose(1, 0, 2),  # ROTATE_270: a quarter turn clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # TRANSVERSE
    8: lambda a: a[:, ::-1].transpose(1, 0, 2),  # ROTATE_90: a quarter turn anticlockwise
}


def decoded_size(mode: str, width: int, height: int) -> int:
    """The bytes ``width`` x ``height`` pixels of ``mode`` hold once decoded."""
    try:
        return width * height * BYTES_PER_PIXEL[mode]
    except KeyError:
        raise UnsupportedImageFormat(f"Images in mode {mode!r} are not accepted.") from None


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, max_decoded_bytes: int) -> np.ndarray:
    """Decode a JPEG, PNG or WebP photo into an upright BGR uint8 array (DeepFace's convention)."""
    if not data:
        raise InvalidImage("The image is empty.")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"The image is {len(data)} bytes; the limit is {max_bytes} bytes.")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise InvalidImage("The file is not an image.") from error
    except OSError as error:  # recognised, but cut off inside its header
        raise InvalidImage("The image is truncated or corrupt.") from error
    if image.format not in ACCEPTED_FORMATS:
        raise UnsupportedImageFormat(
            f"{image.format} images are not accepted; send JPEG, PNG or WebP."
        )
    width, height = image.size
    # The header alone gives the size and the mode: a decompression bomb is refused before its
    # pixels exist, and so is an image whose channels or 16-bit samples would decode too large.
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {max_pixels} pixels."
        )
    decoded = decoded_size(image.mode, width, height)
    if decoded > max_decoded_bytes:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels of mode {image.mode}, {decoded} bytes once decoded; "
            f"the limit is {max_decoded_bytes} bytes."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
            bgr = _to_bgr(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise InvalidImage("The image is truncated or corrupt.") from error
    image.close()  # frees the decoded buffer before a turn copies the array
    if orientation in _UPRIGHT:
        return np.ascontiguousarray(_UPRIGHT[orientation](bgr))
    return bgr


def _to_bgr(image: Image.Image) -> np.ndarray:
    """The loaded image as a BGR array, converted a strip of rows at a time into that array."""
    width, height = image.size
    bgr = np.empty((height, width, 3), np.uint8)
    rows = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows):
        strip = _to_rgb(image.crop((0, top, width, min(top + rows, height))))
        bgr[top : top + rows] = np.asarray(strip)[:, :, ::-1]
    return bgr


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (a transparent background is not black) and convert to RGB."""
    if image.mode.startswith("I;16"):
        # Pillow's convert() clips 16-bit grey at 255 instead of scaling it.
        return Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
