"""Reading the shared test photos and their labels, and generating images that hold no face."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

from PIL import Image


def identities(faces_dir: Path) -> dict[str, list[str]]:
    """Person name -> that person's photo file names, from identities.csv."""
    people: dict[str, list[str]] = defaultdict(list)
    with open(faces_dir / "identities.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            people[row["identity"]].append(row["file"])
    return {person: sorted(files, key=_number) for person, files in people.items()}


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
