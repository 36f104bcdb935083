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

# Sharpness is measured on the aligned face scaled to this square, so that it does not grow with
# the photo's resolution (the recognition model sees 150 x 150 as well).
SHARPNESS_SIDE = 150
# Eye distance / box width of dlib's faces on the test photos: median 0.413, 0.349 to 0.489
# (bench/quality.py). Estimates the eye distance for detectors that give no eyes.
EYES_PER_FACE_WIDTH = 0.41
# DeepFace builds each model once per process and hands every caller the same native objects,
# and dlib's detector and network crash (or return wrong vectors) when two threads run them at
# once: so one lock for the whole process, whatever the number of embedders.
_native_face_code = threading.Lock()


@dataclass(frozen=True)
class EmbeddedFace:
    box: Face
    vector: np.ndarray  # float32, L2-normalised
    faces_in_image: int
    # Pixels between the eyes in the full photo (estimated from the box where the detector gives no eyes).
    eye_distance: float = 0.0
    # The variance of the Laplacian of the aligned face at SHARPNESS_SIDE: small when blurred.
    sharpness: float = 0.0


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

    def embed_photo(
        self, photo: bytes, *, max_bytes: int, max_pixels: int, max_decoded_bytes: int
    ) -> EmbeddedFace:
        """Decode a photo file (refusing one over ``max_bytes``, ``max_pixels`` or
        ``max_decoded_bytes``) and embed its largest face."""
        return self.embed(
            decode_image(photo, max_bytes=max_bytes, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
        )

    def embed_photo_faces(
        self, photo: bytes, *, max_bytes: int, max_pixels: int, max_decoded_bytes: int, max_faces: int
    ) -> tuple[list[EmbeddedFace], int]:
        """Every face of a photo file, largest first, at most ``max_faces`` of them; and how many
        were found."""
        image = decode_image(photo, max_bytes=max_bytes, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
        regions = self.detect(image)
        faces = []
        for region in regions[:max_faces]:
            try:
                faces.append(self._embed_region(image, region, len(regions)))
            except NoFaceDetected:  # this one lies outside the image; the others still count
                continue
        if not faces:
            raise NoFaceDetected("The detected faces lie outside the image.")
        return faces, len(regions)

    def embed(self, image_bgr: np.ndarray) -> EmbeddedFace:
        """Embed the largest face of the photo."""
        regions = self.detect(image_bgr)
        return self._embed_region(image_bgr, regions[0], len(regions))

    def align(self, image_bgr: np.ndarray) -> tuple[DetectedFace, int]:
        """The largest face, cut out and aligned from the full photo; and how many faces were found."""
        regions = self.detect(image_bgr)
        return self._cut_out(image_bgr, regions[0]), len(regions)

    def detect(self, image_bgr: np.ndarray) -> list[FacialAreaRegion]:
        """Every face, found on a small copy and placed on the full photo, largest first.

        Largest is measured at full resolution by the distance between the eyes: a detector's
        boxes come in steps (dlib's about 20 % apart), so two faces 554 and 665 pixels wide can
        both be 129 on the small copy, while the eyes' landmarks scale with the face. Without
        eyes for every face, the boxes decide; ties keep the detector's order."""
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
        regions = [_rescale(region, 1.0 / scale) for region in regions]
        with_eyes = all(region.left_eye and region.right_eye for region in regions)
        return sorted(regions, key=_eye_distance if with_eyes else _box_area, reverse=True)

    def _embed_region(self, image_bgr: np.ndarray, region: FacialAreaRegion, faces_in_image: int) -> EmbeddedFace:
        face = self._cut_out(image_bgr, region)
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
            eye_distance=round(
                _eye_distance(region) if region.left_eye and region.right_eye else EYES_PER_FACE_WIDTH * region.w, 1
            ),
            sharpness=round(sharpness(face.img), 2),
        )

    def _cut_out(self, image_bgr: np.ndarray, region: FacialAreaRegion) -> DetectedFace:
        face = detection.extract_face(
            facial_area=region,
            img=image_bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=self.detector_name,
        )
        if face.img.size == 0:
            raise NoFaceDetected("The detected face lies outside the image.")
        return face

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


def sharpness(face_bgr: np.ndarray) -> float:
    """How much fine detail a face holds: the variance of the Laplacian of its grey image, scaled
    to SHARPNESS_SIDE square. Blur, and a small face enlarged, both leave little."""
    grey = cv2.cvtColor(np.ascontiguousarray(face_bgr, dtype=np.uint8), cv2.COLOR_BGR2GRAY)
    # INTER_AREA enlarges like nearest-neighbour, whose blocky edges would read as detail.
    enlarging = min(grey.shape) < SHARPNESS_SIDE
    square = cv2.resize(
        grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_LINEAR if enlarging else cv2.INTER_AREA
    )
    return float(cv2.Laplacian(square, cv2.CV_64F).var())


def _eye_distance(region: FacialAreaRegion) -> float:
    return float(np.hypot(region.left_eye[0] - region.right_eye[0], region.left_eye[1] - region.right_eye[1]))


def _box_area(region: FacialAreaRegion) -> float:
    return float(region.w * region.h)


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
