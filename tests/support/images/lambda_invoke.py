"""Invoking a built image's handler the way Lambda runs it: the image's Python, its CMD, its task
root alone, its ENV and the function's environment from template.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facematch_local import context
from facematch_testing.images.base_image import BuiltImage

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")


@dataclass
class Invocation:
    init_s: float  # importing the handler module: Lambda's init phase
    outcomes: list[dict[str, Any]]  # {"response": ...} or {"error": "Type: message"}, one per event
    tensorflow: bool  # whether TensorFlow was imported
    outside_task_root: list[str]  # modules imported from neither the task root nor the standard library
    written: list[str]  # files of the image that the invocation created or changed

    @property
    def responses(self) -> list[Any]:
        return [outcome.get("response", outcome.get("error")) for outcome in self.outcomes]


def invoke(image: BuiltImage, events: list[dict[str, Any]], environment: dict[str, str], workdir: Path,
           timeout: float = 300) -> Invocation:
    """Run ``events`` through one fresh process of the image (one cold start, then warm calls)."""
    [handler] = image.cmd
    workdir.mkdir(parents=True, exist_ok=True)
    events_path, result_path = workdir / "events.json", workdir / "result.json"
    events_path.write_text(json.dumps(events))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **image.host_env(), **environment}
    before = _files(image.root)
    done = subprocess.run(
        [str(image.python), "-I", "-S", str(BOOTSTRAP), str(image.task_root), handler, str(events_path), str(result_path),
         context.__file__],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{handler} failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    after = _files(image.root)
    result = json.loads(result_path.read_text())
    written = sorted(str(path) for path in after if before.get(path) != after[path])
    return Invocation(result["init_s"], result["outcomes"], result["tensorflow"], result["outside_task_root"], written)


def _files(root: Path) -> dict[Path, tuple[int, int]]:
    """Each file under ``root`` with its size and modification time."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            stat = os.lstat(os.path.join(folder, name))
            files[Path(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return files
