"""The functions' handler modules, imported as each Lambda's init would import them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from unittest.mock import patch

from facematch.config import get_settings
from facematch.faces import FaceEmbedder
from facematch_testing.stub_faces import stub_embedder

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_handler(function: str, *, stub_faces: bool = False) -> ModuleType:
    """A fresh copy of ``functions/<function>/app.py`` with its init run: with the real face
    model, or with ``stub_faces`` the stub networks (no weights, no photos)."""
    source = FUNCTIONS / function / "app.py"
    suffix = "stub" if stub_faces else "model"
    spec = importlib.util.spec_from_file_location(f"{function}_app_{suffix}", source)
    module = importlib.util.module_from_spec(spec)
    if stub_faces:
        with patch.object(FaceEmbedder, "load", lambda *_: stub_embedder(get_settings())):
            spec.loader.exec_module(module)
    else:
        spec.loader.exec_module(module)
    return module
