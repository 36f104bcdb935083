"""Each Lambda image installs only its requirements file: the handlers must import with exactly that.

The test environment has far more (moto, TensorFlow, the CLI's libraries), which would hide a
dependency the images lack. So the images' requirements are installed into a folder of their
own and each handler is imported there, in a Python that sees nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
IMPORT = """
import importlib.util, json, sys
sys.path = [p for p in sys.path if "site-packages" not in p]
sys.path[:0] = {paths}
spec = importlib.util.spec_from_file_location("app", {handler!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = [name for name in ("tensorflow", "moto", "yaml", "typer") if name in sys.modules]
print(json.dumps({{"heavy": heavy}}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for name, requirements in (("face", "requirements.txt"), ("core", "requirements-core.txt")):
        target = tmp_path_factory.mktemp(name)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "-r", str(ROOT / "layers" / requirements)],
            check=True, capture_output=True,
        )
        folders[name] = target
    return folders


@pytest.mark.parametrize(
    ("function", "image"), [("embedding", "face"), ("comparison", "face"), ("authorizer", "core")]
)
def test_each_handler_imports_with_only_its_images_requirements_and_no_tensorflow(installed, function, image):
    code = IMPORT.format(paths=[str(installed[image]), str(ROOT / "layers")], handler=str(ROOT / "functions" / function / "app.py"))
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    completed = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"heavy": []}
