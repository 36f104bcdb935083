"""Turns untrusted bytes into a pixel array, or a typed error. Every input path decodes here."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facematch.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat

# Pillow names a JPEG that carries extra pictures (as phone cameras write them) "MPO".
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})

# We enforce our own pixel limit before decoding, so Pillow's bomb check must not pre-empt it.
Image.MAX_IMAGE_PIXELS = None


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> np.ndarray:
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
    # The header alone gives the size: a decompression bomb is refused before its pixels exist.
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {max_pixels} pixels."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise InvalidImage("The image is truncated or corrupt.") from error
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


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
