"""The quality gate of enrollment: faces too small or too blurred to be recognised again are
refused, each with its own code, when the caller asks (``quality_filter``).

The thresholds come from the test photos (bench/quality.py, docs/api.md "The quality gate"): ``auto``
refuses only faces whose copies the model stops recognising; ``high`` also refuses faces well
short of an ordinary portrait's detail, for galleries that must hold good photos only.
"""

from __future__ import annotations

from dataclasses import dataclass

from facematch.errors import FaceMatchError, FaceTooSmall, LowSharpness
from facematch.faces import EmbeddedFace
from facematch.models import QualityFilter


@dataclass(frozen=True)
class Thresholds:
    min_eye_distance: float  # pixels between the eyes in the photo
    min_sharpness: float  # faces.sharpness of the aligned face


THRESHOLDS: dict[QualityFilter, Thresholds] = {
    "auto": Thresholds(min_eye_distance=12, min_sharpness=3.5),
    "high": Thresholds(min_eye_distance=32, min_sharpness=50),
}


def refusal(face: EmbeddedFace, level: QualityFilter) -> FaceMatchError | None:
    """Why ``level`` refuses the face, or None when it passes (``none`` passes every face)."""
    thresholds = THRESHOLDS.get(level)
    if thresholds is None:
        return None
    if face.eye_distance < thresholds.min_eye_distance:
        return FaceTooSmall(
            f"The face is too small: {face.eye_distance:g} pixels between the eyes; "
            f"quality_filter={level} needs {thresholds.min_eye_distance:g}."
        )
    if face.sharpness < thresholds.min_sharpness:
        return LowSharpness(
            f"The face is too blurred: sharpness {face.sharpness:g}; quality_filter={level} needs "
            f"{thresholds.min_sharpness:g}."
        )
    return None
