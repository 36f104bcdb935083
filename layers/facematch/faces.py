"""Face detection and embedding with DeepFace's own models.

Only the configured detector and recognition model are imported and built, so a Dlib
deployment never loads TensorFlow. Detection runs on a downscaled copy of the photo
(the detector's cost grows with every pixel); alignment and embedding use the
full-resolution photo, so the face is embedded from all of its pixels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from deepface.models.Detector import DetectedFace, FacialAreaRegion
from deepface.modules import detection, modeling, preprocessing
from deepface.modules.verification import find_threshold

from facematch.errors import NoFaceDetected
from facematch.images import decode_image
from facematch.models import Face

# DeepFace builds each model once per process and hands every caller the same native objects,
# and dlib's detector and network crash (or return wrong vectors) when two threads run them at
# once: so one lock for the whole process, whatever the number of embedders.
_native_face_code = threading.Lock()


@dataclass(frozen=True)
class EmbeddedFace:
    box: Face
    vector: np.ndarray  # float32, L2-normalised
    faces_in_image: int


class FaceEmbedder:
    """Built once per process: loading the model weights is the expensive part of a cold start.

    ``model`` and ``detector`` are DeepFace's own objects (``load`` builds them); anything with
    their ``forward``/``input_shape``/``output_shape`` and ``detect_faces`` serves, which is how
    the tests run every step but the network without the weights.
    """

    def __init__(
        self, model_name: str, detector_name: str, detection_max_side: int, *, model: Any, detector: Any
    ) -> None:
        self.model_name = model_name
        self.detector_name = detector_name
        self.detection_max_side = detection_max_side
        self._model = model
        self._detector = detector
        self.dimensions: int = model.output_shape
        self.default_threshold: float = find_threshold(model_name, "cosine")

    @classmethod
    def load(cls, model_name: str, detector_name: str, detection_max_side: int) -> FaceEmbedder:
        """Build the configured DeepFace model and detector (only those two are imported)."""
        return cls(
            model_name,
            detector_name,
            detection_max_side,
            model=modeling.build_model(task="facial_recognition", model_name=model_name),
            detector=modeling.build_model(task="face_detector", model_name=detector_name),
        )

    def embed_photo(self, photo: bytes, *, max_bytes: int, max_pixels: int) -> EmbeddedFace:
        """Decode a photo file (refusing one over ``max_bytes`` or ``max_pixels``) and embed its largest face."""
        return self.embed(decode_image(photo, max_bytes=max_bytes, max_pixels=max_pixels))

    def embed(self, image_bgr: np.ndarray) -> EmbeddedFace:
        """Embed the largest face of the photo."""
        face, faces_in_image = self.align(image_bgr)
        box = face.facial_area
        return EmbeddedFace(
            box=Face(
                x=int(box.x),
                y=int(box.y),
                w=int(box.w),
                h=int(box.h),
                confidence=round(float(box.confidence or 0.0), 4),
            ),
            vector=self.represent(face.img),
            faces_in_image=faces_in_image,
        )

    def align(self, image_bgr: np.ndarray) -> tuple[DetectedFace, int]:
        """The largest face, found on a small copy, cut out and aligned from the full photo;
        and how many faces were found."""
        scale = min(1.0, self.detection_max_side / max(image_bgr.shape[:2]))
        small = (
            cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if scale < 1.0
            else image_bgr
        )
        with _native_face_code:
            regions = self._detector.detect_faces(small)
        if not regions:
            raise NoFaceDetected("No face was found in the image.")
        largest = _rescale(max(regions, key=lambda region: region.w * region.h), 1.0 / scale)
        face = detection.extract_face(
            facial_area=largest,
            img=image_bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=self.detector_name,
        )
        if face.img.size == 0:
            raise NoFaceDetected("The detected face lies outside the image.")
        return face, len(regions)

    def represent(self, face_bgr: np.ndarray) -> np.ndarray:
        """The unit vector of an aligned face: DeepFace.represent's preprocessing and model."""
        height, width = self._model.input_shape
        pixels = preprocessing.resize_image(img=face_bgr / 255.0, target_size=(width, height))
        pixels = preprocessing.normalize_input(img=pixels, normalization="base")
        with _native_face_code:
            vector = np.asarray(self._model.forward(pixels), dtype=np.float32).reshape(-1)
        return normalize(vector)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise vectors along the last axis, so a dot product is the cosine similarity."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)


def _rescale(region: FacialAreaRegion, factor: float) -> FacialAreaRegion:
    def point(value: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if value is None else (round(value[0] * factor), round(value[1] * factor))

    return FacialAreaRegion(
        x=round(region.x * factor),
        y=round(region.y * factor),
        w=round(region.w * factor),
        h=round(region.h * factor),
        left_eye=point(region.left_eye),
        right_eye=point(region.right_eye),
        confidence=region.confidence,
        nose=point(region.nose),
        mouth_left=point(region.mouth_left),
        mouth_right=point(region.mouth_right),
    )
