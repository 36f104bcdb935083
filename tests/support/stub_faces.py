"""A face detector and recognition model without weights, for every test that is not about faces.

FaceMatch's own pipeline runs around them unchanged (the downscaled detection copy, the box
rescaled to the full photo, DeepFace's cropping, alignment and preprocessing, normalisation);
only the two networks are replaced:

- a "face" is a rectangle that differs from the photo's background (its corner pixel), as
  ``synthetic_photo`` draws one; a photo with no such rectangle has no face;
- the "embedding" is the face's brightness averaged over a 16 x 8 grid, centred: photos of one
  person (one pattern, a little noise) are a few thousandths apart, different people about 1.
"""

from __future__ import annotations

import cv2
import numpy as np
from deepface.models.Detector import FacialAreaRegion

from facematch.config import Settings
from facematch.faces import FaceEmbedder

GRID = (16, 8)  # rows, columns: 128 numbers, Dlib's length
MIN_FACE_SIDE = 8


class StubDetector:
    """Finds the rectangles that differ from the background, with level eyes (no rotation)."""

    def detect_faces(self, image_bgr: np.ndarray) -> list[FacialAreaRegion]:
        background = image_bgr[0, 0].astype(np.int16)
        foreground = (np.abs(image_bgr.astype(np.int16) - background).max(axis=2) > 8).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        regions = []
        for x, y, w, h, _area in stats[1:count]:
            if min(w, h) < MIN_FACE_SIDE:
                continue
            eye_y = int(y + 0.35 * h)
            regions.append(
                FacialAreaRegion(
                    x=int(x), y=int(y), w=int(w), h=int(h),
                    left_eye=(int(x + 0.7 * w), eye_y), right_eye=(int(x + 0.3 * w), eye_y),
                    confidence=1.0,
                )
            )
        return regions


class StubModel:
    """Dlib's input and output shapes; the vector is the face's centred grid of brightness."""

    input_shape = (150, 150)
    output_shape = GRID[0] * GRID[1]

    def forward(self, pixels: np.ndarray) -> np.ndarray:
        grey = np.asarray(pixels, dtype=np.float32).reshape(*self.input_shape, -1).mean(axis=2)
        cells = cv2.resize(grey, (GRID[1], GRID[0]), interpolation=cv2.INTER_AREA).reshape(-1)
        return cells - cells.mean()


def stub_embedder(settings: Settings) -> FaceEmbedder:
    """FaceMatch's embedder for the configured model's name and threshold, on the stub networks."""
    return FaceEmbedder(
        settings.model, settings.detector, settings.detection_max_side,
        model=StubModel(), detector=StubDetector(),
    )
