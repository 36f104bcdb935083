"""`facematch import` against `make run`: a generated tree of the test photos, through the API
and through the bucket's inbox, with the real model."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from facematch_testing.photos import blank_image, identities
from facematch_testing.stack import ADMIN_KEY

pytestmark = pytest.mark.model
CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "facematch"


def photo_tree(root: Path, faces_dir: Path, persons: int, photos_each: int) -> tuple[Path, str, dict[str, int]]:
    """ORGANIZATION/PERSON/photo.jpg from the test photos (copied to a temporary folder), and a
    photo without a face under the person "nobody"."""
    organization = f"import-{uuid.uuid4().hex[:8]}"
    counts = {}
    for person, files in list(identities(faces_dir).items())[:persons]:
        folder = root / organization / person
        folder.mkdir(parents=True)
        for name in files[:photos_each]:
            (folder / name).write_bytes((faces_dir / name).read_bytes())
        counts[person] = len(files[:photos_each])
    (root / organization / "nobody").mkdir()
    (root / organization / "nobody" / "wall.png").write_bytes(blank_image())
    return root, organization, counts


def facematch(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "--url", url, "--api-key", ADMIN_KEY, *args], capture_output=True, text=True, timeout=600)


def persons(url: str, organization: str) -> dict[str, int]:
    listed = facematch(url, "persons", "--org", organization, "--json")
    assert listed.returncode == 0, listed.stderr
    return {p["external_id"]: p["faces"] for p in json.loads(listed.stdout)["persons"]}


def held_faces(url: str, organization: str) -> int:
    listed = httpx.get(
        f"{url}/api/embeddings", params={"organization": organization, "limit": "1000"},
        headers={"x-api-key": ADMIN_KEY}, timeout=30,
    ).json()
    return len(listed.get("embeddings", []))


def test_an_import_interrupted_halfway_and_run_again_holds_each_photo_once_and_reports_the_photo_without_a_face(
    local_stack, faces_dir, tmp_path
):
    tree, organization, counts = photo_tree(tmp_path / "tree", faces_dir, persons=4, photos_each=2)
    report = tmp_path / "failures.csv"
    # One request a second: Ctrl-C lands once a few photos are enrolled, before the rest are.
    slow = subprocess.Popen(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "import", str(tree), "--report", str(report),
         "--concurrency", "1", "--max-per-second", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while held_faces(local_stack.url, organization) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    slow.send_signal(signal.SIGINT)
    assert slow.wait(timeout=120) == 130
    halfway = held_faces(local_stack.url, organization)
    assert 2 <= halfway < sum(counts.values())

    for _ in range(2):  # run again, and once more: nothing enrolled twice
        run = facematch(local_stack.url, "import", str(tree), "--report", str(report))
        assert run.returncode == 1, run.stderr  # the face-less photo
        assert f"enrolled {sum(counts.values())}, skipped 0, failed 1" in run.stdout, run.stdout
        assert persons(local_stack.url, organization) == counts
    rows = list(csv.DictReader(report.open()))
    assert [(r["person"], Path(r["photo"]).name, r["code"]) for r in rows] == [("nobody", "wall.png", "NO_FACE_DETECTED")]


def test_an_import_through_the_inbox_follows_each_uploads_outcome(local_stack, faces_dir, tmp_path):
    tree, organization, counts = photo_tree(tmp_path / "tree", faces_dir, persons=2, photos_each=1)
    report = tmp_path / "failures.csv"
    run = facematch(local_stack.url, "import", str(tree), "--via-s3", "--report", str(report))
    assert run.returncode == 1, run.stderr
    assert f"enrolled {sum(counts.values())}, skipped 0, failed 1" in run.stdout, run.stdout
    assert persons(local_stack.url, organization) == counts
    (row,) = csv.DictReader(report.open())
    assert (row["person"], row["code"]) == ("nobody", "NO_FACE_DETECTED")
    listing = httpx.get(
        f"{local_stack.url}/api/uploads", params={"organization": organization, "status": "failed"},
        headers={"x-api-key": ADMIN_KEY}, timeout=30,
    ).json()
    # A failed upload's record keeps no label (no erasure of a person would reach it): its key names the photo.
    assert [(u["key"].endswith("wall.png"), u["error"]["code"]) for u in listing["uploads"]] == [(True, "NO_FACE_DETECTED")]
