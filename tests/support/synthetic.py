"""Generated photos of made-up people, for the stub face model (see ``stub_faces``)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

BACKGROUND = (200, 200, 200)


def synthetic_photo(
    person: str,
    variant: int = 0,
    *,
    size: tuple[int, int] = (640, 480),
    faces: int = 1,
    format_: str = "JPEG",
) -> bytes:
    """A photo of ``person``: their pattern as a face on a plain background, with a little noise
    that differs per ``variant``. With ``faces`` > 1 the others are smaller, and of other people."""
    width, height = size
    pixels = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    rng = np.random.default_rng(_seed(f"{person}/{variant}"))
    side = min(width, height) // 2
    for index in range(faces):
        face_side = side if index == 0 else side // 2
        pattern = _pattern(person if index == 0 else f"{person}/bystander-{index}", face_side)
        noisy = np.clip(pattern + rng.normal(0, 2.0, pattern.shape), 0, 255).astype(np.uint8)
        x = width // 8 + (0 if index == 0 else side + 10 + (index - 1) * (side // 2 + 10))
        y = height // 4
        pixels[y : y + face_side, x : x + face_side] = noisy[..., None]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format_, **({"quality": 95} if format_ == "JPEG" else {}))
    return buffer.getvalue()


def _pattern(person: str, side: int) -> np.ndarray:
    """The person's 8 x 8 blocks of grey, never close to the background."""
    blocks = np.random.default_rng(_seed(person)).integers(10, 150, size=(8, 8)).astype(np.float64)
    return np.kron(blocks, np.ones((side // 8 + 1, side // 8 + 1)))[:side, :side]


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
