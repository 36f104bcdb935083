"""Shared by the benchmark scripts: paths, child environment, workers, accuracy.

Everything heavy (DeepFace, the models) runs in child processes started from here, so the
scripts that import this module stay light and no two pipelines share caches or threads.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WORKER = BENCH / "worker.py"

# DeepFace's default cosine threshold for Dlib (deepface.modules.verification.find_threshold).
DLIB_COSINE_THRESHOLD = 0.07


def faces_dir() -> Path:
    """The test photos, found as the tests find them."""
    from facematch_testing.photos import MISSING_PHOTOS, locate_faces_dir

    path, found = locate_faces_dir()
    if not found:
        sys.exit(MISSING_PHOTOS.format(path=path))
    return path


def photos(directory: Path) -> list[Path]:
    """Every .jpg of the dataset, in a stable order."""
    found = sorted(
        (p for p in directory.iterdir() if p.suffix.lower() in (".jpg", ".jpeg")),
        key=lambda p: p.name,
    )
    if not found:
        sys.exit(f"No .jpg photos in {directory}.")
    return found


def pairs(directory: Path) -> list[tuple[str, str, bool]]:
    with (directory / "master.csv").open(newline="") as handle:
        return [(row["file_x"], row["file_y"], row["Decision"].strip() == "Yes") for row in csv.DictReader(handle)]


def identity_pairs(directory: Path) -> list[tuple[str, str, bool]]:
    """Every pair of identities.csv's photos (40 photos of 9 people: 780 pairs), for context.

    It overlaps master.csv (img1-25) but adds img47-67, which master.csv never uses.
    """
    path = directory / "identities.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = [(row["file"], row["identity"]) for row in csv.DictReader(handle)]
    return [(a, b, ia == ib) for i, (a, ia) in enumerate(rows) for b, ib in rows[i + 1 :]]


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of every child: fake AWS credentials, FaceMatch and Powertools settings."""
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FACEMATCH_BUCKET": "facematch-bench",
            "FACEMATCH_TABLE": "facematch-bench",
            "POWERTOOLS_SERVICE_NAME": "facematch",
            "POWERTOOLS_METRICS_NAMESPACE": "FaceMatch",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.pop("FACEMATCH_AWS_ENDPOINT", None)
    env.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
    env.update(overrides)
    return env


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("deepface", "dlib-bin", "dlib", "opencv-python-headless", "opencv-python", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# ---------------------------------------------------------------------------------------------
# Long-lived workers: one process per pipeline, fed one photo at a time over a pipe, so that the
# two pipelines can be interleaved photo by photo and share the machine's noise evenly.


class Worker:
    """A child process running ``worker.py serve <kind>``; it has built and warmed its model."""

    def __init__(self, kind: str, warmup: Path, env: dict[str, str] | None = None, **options: Any) -> None:
        self.kind = kind
        self._stderr = tempfile.TemporaryFile(mode="w+")
        config = json.dumps({"warmup": str(warmup), **options})
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER), "serve", kind, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env or child_env(),
            text=True,
            bufsize=1,
        )
        self.ready = self._receive()

    def embed(self, photo: Path, **options: Any) -> dict[str, Any]:
        self._process.stdin.write(json.dumps({"path": str(photo), **options}) + "\n")
        self._process.stdin.flush()
        return self._receive()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def _receive(self) -> dict[str, Any]:
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            self._stderr.seek(0)
            tail = self._stderr.read()[-4000:]
            raise RuntimeError(f"{self.kind} worker exited ({self._process.returncode}):\n{tail}")
        return json.loads(line)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Cold starts: a fresh process, timed from the parent, peak RSS from wait4().


@dataclass
class ColdRun:
    wall_s: float  # spawn to exit, measured here
    first_embedding_s: float | None  # spawn to the child's FIRST_EMBEDDING mark (same clock)
    rss_mb: float  # the child's peak resident set (ru_maxrss)
    marks: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0  # the child's user + system CPU time, to exit: far less noisy than wall time


def cold_run(argv: list[str], env: dict[str, str], timeout: float = 300.0) -> ColdRun:
    """Run a fresh process to completion; it prints ``MARK <name> <time.time()>`` lines."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        spawned = time.time()
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                raise RuntimeError(f"cold start timed out: {argv}")
            time.sleep(0.002)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(
                f"cold start failed ({process.returncode}): {argv}\n{stdout[-2000:]}\n"
                f"{err.read().decode(errors='replace')[-4000:]}"
            )
    marks = {}
    for line in stdout.splitlines():
        if line.startswith("MARK "):
            _, name, stamp = line.split()
            marks[name] = float(stamp) - spawned
    return ColdRun(wall, marks.get("FIRST_EMBEDDING"), usage.ru_maxrss / 1024.0, marks, usage.ru_utime + usage.ru_stime)


# ---------------------------------------------------------------------------------------------
# Verification accuracy on master.csv.


def cosine_distance(a: list[float], b: list[float]) -> float:
    norm_a = math.sqrt(sum(x * x for x in a)) or 1.0
    norm_b = math.sqrt(sum(x * x for x in b)) or 1.0
    return 1.0 - sum(x * y for x, y in zip(a, b)) / (norm_a * norm_b)


def verify(
    vectors: dict[str, list[float] | None], labelled: list[tuple[str, str, bool]], threshold: float
) -> dict[str, Any]:
    """Accuracy at ``threshold``; a pair with a photo that had no face counts as a wrong answer."""
    correct = 0
    missing = 0
    distances: dict[tuple[str, str], float] = {}
    for x, y, same in labelled:
        a, b = vectors.get(x), vectors.get(y)
        if a is None or b is None:
            missing += 1
            continue
        distance = cosine_distance(a, b)
        distances[(x, y)] = distance
        correct += (distance <= threshold) == same
    return {
        "accuracy": correct / len(labelled) if labelled else None,
        "correct": correct,
        "pairs": len(labelled),
        "pairs_missing_a_face": missing,
        "distances": distances,
    }


def best_threshold_accuracy(distances: dict[tuple[str, str], float], labelled: list[tuple[str, str, bool]]) -> tuple[float, float]:
    """The best accuracy any threshold reaches, and that threshold (for context only)."""
    rows = [(distances[(x, y)], same) for x, y, same in labelled if (x, y) in distances]
    candidates = sorted({d for d, _ in rows})
    best = (0.0, DLIB_COSINE_THRESHOLD)
    for t in candidates:
        acc = sum((d <= t) == same for d, same in rows) / len(labelled)
        if acc > best[0]:
            best = (acc, t)
    return best


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)


def check(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


class FaceSpace:
    """A synthetic face space: normalise(mean + L z), with the mean and covariance of real
    embeddings, the covariance shrunk towards a multiple of the identity by ``shrink`` and scaled
    by ``spread`` squared. Every vector drawn is a different person (bench/significance.py picks
    shrink and spread by the Kolmogorov-Smirnov distance to the real stranger distances)."""

    def __init__(self, vectors, shrink: float, spread: float = 1.0) -> None:  # noqa: ANN001
        import numpy as np

        self.mean = vectors.mean(axis=0).astype(np.float64)
        cov = np.cov(vectors.T.astype(np.float64)) * spread**2
        target = np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
        self.factor = np.linalg.cholesky((1 - shrink) * cov + shrink * target + 1e-12 * np.eye(cov.shape[0]))
        self.shrink, self.spread = shrink, spread

    def draw(self, n: int, rng, chunk: int = 131_072):  # noqa: ANN001, ANN201
        """``n`` unit vectors (float32), drawn in blocks: no full-size float64 temporary."""
        import numpy as np

        out = np.empty((n, self.mean.size), np.float32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            x = (rng.standard_normal((stop - start, self.mean.size)) @ self.factor.T + self.mean).astype(np.float32)
            out[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out
