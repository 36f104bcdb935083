"""Reading the shared test photos and their labels, and generating images that hold no face."""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
MISSING_PHOTOS = (
    "Test photos not found in {path}. Set FACEMATCH_FACES_DIR to the DeepFace "
    "unit-test dataset (see README, 'Test photos')."
)


def locate_faces_dir() -> tuple[Path, bool]:
    """Where the test photos are (FACEMATCH_FACES_DIR, by default ../shared/faces/deepface),
    and whether they are there."""
    path = Path(os.environ.get("FACEMATCH_FACES_DIR", ROOT.parent / "shared" / "faces" / "deepface"))
    return path.resolve(), (path / "master.csv").exists()


def identities(faces_dir: Path) -> dict[str, list[str]]:
    """Person name -> that person's photo file names, from identities.csv."""
    people: dict[str, list[str]] = defaultdict(list)
    with open(faces_dir / "identities.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            people[row["identity"]].append(row["file"])
    return {person: sorted(files, key=_number) for person, files in people.items()}


def people(faces_dir: Path) -> dict[str, str]:
    """Every single-face photo's person: identities.csv's name, or for the photos it leaves out,
    "group-<photo>" for the group of photos face-recognition-pivot.csv says show one person."""
    found = {row["file"]: row["identity"] for row in csv.DictReader((faces_dir / "identities.csv").open())}
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            name = parent[name]
        return name

    for row in csv.DictReader((faces_dir / "face-recognition-pivot.csv").open()):
        a, b = row["file_x"].split("/")[-1], row["file_y"].split("/")[-1]
        root(a), root(b)
        if row["decision"] == "Yes":
            parent[root(a)] = root(b)
    for name in list(parent):
        if name not in found:
            found[name] = "group-" + root(name)
    return found


def master_pairs(faces_dir: Path) -> list[tuple[str, str, bool]]:
    with open(faces_dir / "master.csv", newline="") as handle:
        return [(r["file_x"], r["file_y"], r["Decision"] == "Yes") for r in csv.DictReader(handle)]


def blank_image(format_: str = "PNG", size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 190, 200)).save(buffer, format_)
    return buffer.getvalue()


def _number(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def photo(faces_dir: Path, name: str) -> tuple[str, bytes]:
    """One shared photo as (file name, bytes), as the API helpers take it."""
    return name, (faces_dir / name).read_bytes()
