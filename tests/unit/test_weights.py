"""The Dlib weights are copied out of face-recognition-models without importing it."""

from __future__ import annotations

import sys

from facematch.weights import DLIB_WEIGHTS, provision_dlib_weights


def test_weights_are_provisioned_from_a_package_whose_init_cannot_run(tmp_path, monkeypatch):
    # As in the Lambda image: the package's __init__ imports pkg_resources, which is not there.
    package = tmp_path / "site" / "face_recognition_models"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n")
    for name in DLIB_WEIGHTS:
        (package / "models" / name).write_bytes(name.encode())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "face_recognition_models", raising=False)

    copied = provision_dlib_weights(tmp_path / "weights")

    assert {path.name: path.read_bytes() for path in copied} == {name: name.encode() for name in DLIB_WEIGHTS}
    assert "face_recognition_models" not in sys.modules
