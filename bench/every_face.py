"""Every face in one compare (faces=all) against one compare per face, with the real model.

    .venv/bin/python bench/every_face.py        (make bench-every-face)

Under moto in process, one organization holds a crop of every face of the photos below (each
enrolled as its own person) and the other test photos (64 in all and the crops). Per photo, with
1, 2 and 4 faces: ``all_ms``, one compare with faces=all; ``separate_ms``, what a client without
it does, one compare per face, each sent the crop of that face; ``largest_ms``, the default
compare of the whole photo, for scale. Repeated REPEATS times (default 5), interleaved, medians.
Prints a Markdown table; writes bench/results/every_face.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
        "FACEMATCH_BUCKET": "facematch-bench", "FACEMATCH_TABLE": "facematch-bench",
        "FACEMATCH_ADMIN_KEY": "bench", "FACEMATCH_PAGE_TOKEN_SECRET": "bench", "FACEMATCH_PROJECT_ROOT": str(ROOT),
    }
)
os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
from facematch.images import decode_image  # noqa: E402
from facematch.inputs import ImageInput  # noqa: E402
from facematch.wiring import FaceMatch  # noqa: E402
from facematch_testing.aws import mocked_aws  # noqa: E402

PHOTOS = ["img1.jpg", "couple.jpg", "selfie-many-people.jpg"]
REPEATS = int(os.environ.get("REPEATS", "5"))
RESULTS = common.RESULTS / "every_face.json"
ORGANIZATION = "bench"


def crops(content: bytes, service: FaceMatch) -> list[bytes]:
    """Each face with 60 % margin, as a JPEG: what a client would send one compare each."""
    image = decode_image(content, max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9)
    found = []
    for region in service.embedder.detect(image):
        pad_x, pad_y = int(region.w * 0.6), int(region.h * 0.6)
        top, left = max(0, region.y - pad_y), max(0, region.x - pad_x)
        found.append(cv2.imencode(".jpg", image[top : region.y + region.h + pad_y, left : region.x + region.w + pad_x])[1].tobytes())
    return found


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    faces = common.faces_dir()
    with mocked_aws():
        service = FaceMatch.from_settings()
        contents = {name: (faces / name).read_bytes() for name in PHOTOS}
        face_crops = {name: crops(content, service) for name, content in contents.items()}
        for name, pieces in face_crops.items():
            for number, piece in enumerate(pieces):
                service.enrollment.enroll(ORGANIZATION, [ImageInput(f"{name}-{number}.jpg", piece)], external_id=f"{name}-{number}")
        others = [p for p in common.photos(faces) if p.name not in PHOTOS and not p.name.startswith("img11_")]
        for start in range(0, len(others), 10):
            service.enrollment.enroll(ORGANIZATION, [ImageInput(p.name, p.read_bytes()) for p in others[start : start + 10]])
        compare = service.matching.compare
        compare(ORGANIZATION, ImageInput("warm.jpg", contents["img1.jpg"]))  # warm-up
        rows = []
        for name in PHOTOS:
            times = {"all": [], "separate": [], "largest": []}
            for _ in range(REPEATS):
                times["all"].append(timed(lambda: compare(ORGANIZATION, ImageInput(name, contents[name]), faces="all")))
                times["separate"].append(
                    timed(lambda: [compare(ORGANIZATION, ImageInput("crop.jpg", c)) for c in face_crops[name]])
                )
                times["largest"].append(timed(lambda: compare(ORGANIZATION, ImageInput(name, contents[name]))))
            answer = compare(ORGANIZATION, ImageInput(name, contents[name]), faces="all")
            identified = sum(
                entry.external_id is not None and entry.external_id.startswith(name) for entry in answer.faces
            )
            row = {"photo": name, "faces": len(face_crops[name]), "identified": identified,
                   **{f"{kind}_ms": round(statistics.median(values), 1) for kind, values in times.items()}}
            row["separate_over_all"] = round(row["separate_ms"] / row["all_ms"], 2)
            rows.append(row)
        searched = answer.faces_searched
    print(f"## Every face in one compare against one compare per face ({searched} faces enrolled, medians of {REPEATS})\n")
    print("| photo | faces | identified | faces=all | one compare per face | ratio | largest only |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['photo']} | {r['faces']} | {r['identified']}/{r['faces']} | {r['all_ms']} ms | "
              f"{r['separate_ms']} ms | {r['separate_over_all']} x | {r['largest_ms']} ms |")
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "enrolled": searched, "repeats": REPEATS, "photos": rows,
    }
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
