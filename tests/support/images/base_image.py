"""What stands in for the Lambda base image public.ecr.aws/lambda/python:X.Y in the image build.

- Its Python: a virtual environment of this machine's pythonX.Y holding only pip, as the image's
  does (whatever this machine's interpreter has installed beside it).
- Its environment: LAMBDA_TASK_ROOT=/var/task.
- Its file system: each build stage writes under a scratch root of its own. The folders the
  Dockerfiles use (MAPPED_FOLDERS) are rewritten into that root, textually: in RUN commands, in
  the values of ARG and ENV, and in the built image's ENV when a handler runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from facematch_testing.images.dockerfile import UnsupportedDockerfile, parse

BASE_IMAGE = re.compile(r"public\.ecr\.aws/lambda/python:(?P<version>3\.\d+)")
BASE_ENV = {"LAMBDA_TASK_ROOT": "/var/task"}
MAPPED_FOLDERS = ("/build", "/opt", "/tmp", "/var/task")
MAPPED_PATH = re.compile(r"(?<![\w./-])(?:" + "|".join(map(re.escape, MAPPED_FOLDERS)) + r")(?![\w.-])")


def base_python_version(base_image: str) -> str:
    match = BASE_IMAGE.fullmatch(base_image)
    if not match:
        raise UnsupportedDockerfile(f"base image {base_image} is not a Lambda Python base image")
    return match["version"]


def dockerfile_python_version(dockerfile: Path) -> str:
    versions = {base_python_version(stage.base) for stage in parse(dockerfile.read_text())}
    if len(versions) != 1:
        raise UnsupportedDockerfile(f"{dockerfile}: stages on different Pythons {sorted(versions)}")
    return versions.pop()


def find_python(version: str) -> str | None:
    """This machine's pythonX.Y: on PATH, or installed by pyenv (whose shim only runs it where that
    version is selected); None if there is none."""
    pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}"), *sorted(pyenv_versions.glob(f"{version}.*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
        if probe.returncode == 0:
            return probe.stdout.strip()
    return None


def base_image_python(python: str, folder: Path) -> Path:
    """A virtual environment of ``python`` with nothing but pip: the image's Python, whatever this
    machine's interpreter has installed beside it. Made once in ``folder``, per interpreter."""
    venv = folder / f"python-{hashlib.sha256(python.encode()).hexdigest()[:16]}"
    if not (venv / "bin" / "python").exists():
        partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
        subprocess.run([python, "-m", "venv", str(partial)], check=True, capture_output=True)
        try:
            partial.rename(venv)
        except OSError:  # another test worker made it first
            shutil.rmtree(partial)
    return venv / "bin" / "python"


def to_scratch(text: str, root: Path) -> str:
    """``text`` with every path under MAPPED_FOLDERS moved under ``root``."""
    return MAPPED_PATH.sub(lambda match: f"{root}{match[0]}", text)


@dataclass
class BuiltImage:
    root: Path  # the final stage's file system
    env: dict[str, str]  # its ENV, as the image sees it
    cmd: list[str]
    python: Path

    def host_path(self, image_path: str) -> Path:
        return Path(to_scratch(image_path, self.root))

    def host_env(self) -> dict[str, str]:
        return {name: to_scratch(value, self.root) for name, value in self.env.items()}

    @property
    def task_root(self) -> Path:
        return self.host_path(self.env["LAMBDA_TASK_ROOT"])

    def size_bytes(self) -> int:
        """What the Dockerfile adds to the base image."""
        return sum(path.lstat().st_size for path in self.root.rglob("*") if not path.is_dir())
