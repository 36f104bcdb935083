"""The quality gate's measurements: small and blurred copies of the test photos, with the real model.

    .venv/bin/python bench/quality.py        (make bench-quality)

Photos: every single-face photo of the dataset, the 61 img*.jpg but img11_reflection.jpg (a face
and its mirror reflection); couple.jpg and selfie-many-people.jpg are group photos and are left
out. That is identities.csv's 40 photos (which cover master.csv's img1-25) and img26-46.

Each photo is decoded as the API decodes it (upright, BGR) and its largest face embedded with
FaceMatch's pipeline (FaceEmbedder: Dlib, the dlib detector on a copy of at most 480 px). Copies,
made from the decoded pixels and embedded as they are (no re-encoding; a PNG would be the same):

- ``eyes N px``: the photo resized (cv2.INTER_AREA) by N / the original's eye distance, so that
  its eyes are about N pixels apart;
- ``blur P %``: the full photo blurred with cv2.GaussianBlur, kernel size from sigma (ksize 0),
  sigma = P % of the original's detected face width (its box's w, in photo pixels), in x and y;
- ``blur P % then eyes N px``: the blurred copy, then resized as above: a small blurred face
  (faces.sharpness enlarges a face under 150 px with INTER_AREA, which enlarges like nearest
  neighbour: its blocky edges read as detail).

For each variant: the copies, the faces detected, the copies that still match their original
(cosine distance of the two embeddings within the model's threshold, 0.07 for Dlib), the ranges
of eye distance and sharpness, how many pass ``auto`` and ``high`` (facematch.quality.refusal),
and where ``auto`` disagrees with matching: copies it refuses that still match, copies it passes
that no longer do. Then, per threshold, how a sharpness (blurred copies) or eye-distance
threshold (small copies) would have sorted them, and over the originals the ratio of the eye
distance to the face box's width. Prints Markdown tables; writes bench/results/quality.json.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
from facematch import quality  # noqa: E402
from facematch.config import Settings  # noqa: E402
from facematch.errors import NoFaceDetected  # noqa: E402
from facematch.faces import EmbeddedFace, FaceEmbedder  # noqa: E402
from facematch.images import decode_image  # noqa: E402

GROUP_PHOTOS = {"couple.jpg", "selfie-many-people.jpg", "img11_reflection.jpg"}
EYES = [20, 14, 12, 10]  # pixels between the eyes of the small copies
BLURS = [1, 2, 3, 5]  # the blur's sigma, in % of the original's face width
BLURRED_THEN_SMALL = [(5, 40), (5, 20)]  # (blur %, then eyes px)
SHARPNESS_THRESHOLDS = [2.5, 3, 3.5, 4, 4.5, 5, 6, 8, 12, 50]
EYE_THRESHOLDS = [10, 11, 12, 13, 14, 16, 20, 32]
RESULTS = common.RESULTS / "quality.json"


def single_face_photos(directory: Path) -> list[Path]:
    found = [p for p in common.photos(directory) if p.name.startswith("img") and p.name not in GROUP_PHOTOS]
    return sorted(found, key=lambda p: int("".join(ch for ch in p.stem if ch.isdigit())))


def smaller(image: np.ndarray, original: EmbeddedFace, eyes: float) -> np.ndarray:
    factor = eyes / original.eye_distance
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def blurred(image: np.ndarray, original: EmbeddedFace, percent: float) -> np.ndarray:
    sigma = percent / 100 * original.box.w
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def measure(embedder: FaceEmbedder, image: np.ndarray, original: EmbeddedFace, threshold: float) -> dict[str, Any]:
    try:
        face = embedder.embed(image)
    except NoFaceDetected:
        return {"detected": False}
    distance = 1.0 - float(face.vector @ original.vector)
    return {
        "detected": True,
        "eye_distance": face.eye_distance,
        "box_w": face.box.w,
        "sharpness": face.sharpness,
        "distance": round(distance, 4),
        "match": distance <= threshold,
        **{level: _code(quality.refusal(face, level)) for level in ("auto", "high")},
    }


def _code(refusal) -> str:
    return "pass" if refusal is None else refusal.code


def summary(name: str, copies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found = [c for c in copies.values() if c["detected"]]

    def span(key: str) -> list[float] | None:
        values = [c[key] for c in found]
        return [min(values), max(values)] if values else None

    return {
        "variant": name,
        "photos": len(copies),
        "detected": len(found),
        "match": sum(c["match"] for c in found),
        "eye_distance": span("eye_distance"),
        "sharpness": span("sharpness"),
        "pass_auto": sum(c["auto"] == "pass" for c in found),
        "pass_high": sum(c["high"] == "pass" for c in found),
        "auto_refuses_a_match": sum(c["match"] and c["auto"] != "pass" for c in found),
        "auto_passes_a_non_match": sum(not c["match"] and c["auto"] == "pass" for c in found),
        "refusals_auto": _count(c["auto"] for c in found if c["auto"] != "pass"),
        "refusals_high": _count(c["high"] for c in found if c["high"] != "pass"),
        "not_detected": sorted((p for p, c in copies.items() if not c["detected"]), key=_number),
    }


def sweep(copies: list[dict[str, Any]], key: str, thresholds: list[float]) -> list[dict[str, Any]]:
    """How a threshold on ``key`` alone would sort the detected copies against matching."""
    found = [c for c in copies if c["detected"]]
    return [
        {
            "threshold": t,
            "refused": sum(c[key] < t for c in found),
            "refused_though_matching": sum(c["match"] and c[key] < t for c in found),
            "passed_though_not_matching": sum(not c["match"] and c[key] >= t for c in found),
        }
        for t in thresholds
    ]


def _count(codes) -> dict[str, int]:
    counted: dict[str, int] = {}
    for code in codes:
        counted[code] = counted.get(code, 0) + 1
    return counted


def _number(name: str) -> int:
    return int("".join(ch for ch in name if ch.isdigit()) or 0)


def _span(values: list[float] | None, digits: int) -> str:
    return "-" if values is None else f"{values[0]:.{digits}f} - {values[1]:.{digits}f}"


def main() -> None:
    started = time.perf_counter()
    directory = common.faces_dir()
    photos = single_face_photos(directory)
    settings = Settings()
    embedder = FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
    threshold = embedder.default_threshold
    variants: dict[str, dict[str, dict[str, Any]]] = {"original": {}}
    small_names = [f"eyes {n} px" for n in EYES]
    blur_names = [f"blur {p} %" for p in BLURS]
    both_names = [f"blur {p} % then eyes {n} px" for p, n in BLURRED_THEN_SMALL]
    variants |= {name: {} for name in small_names + blur_names + both_names}
    ratios = {}
    for path in photos:
        image = decode_image(path.read_bytes(), max_bytes=10**9, max_pixels=10**9, max_decoded_bytes=10**10)
        original = embedder.embed(image)
        ratios[path.name] = original.eye_distance / original.box.w
        variants["original"][path.name] = measure(embedder, image, original, threshold)
        for eyes in EYES:
            variants[f"eyes {eyes} px"][path.name] = measure(embedder, smaller(image, original, eyes), original, threshold)
        for percent in BLURS:
            variants[f"blur {percent} %"][path.name] = measure(
                embedder, blurred(image, original, percent), original, threshold
            )
        for percent, eyes in BLURRED_THEN_SMALL:
            variants[f"blur {percent} % then eyes {eyes} px"][path.name] = measure(
                embedder, smaller(blurred(image, original, percent), original, eyes), original, threshold
            )
        print(f"{path.name}: eyes {original.eye_distance:g} px, face {original.box.w} px, "
              f"sharpness {original.sharpness:g}", file=sys.stderr, flush=True)
    rows = [summary(name, copies) for name, copies in variants.items()]
    blurred_copies = [c for name in blur_names for c in variants[name].values()]
    small_copies = [c for name in small_names for c in variants[name].values()]
    sharpness_sweep = sweep(blurred_copies, "sharpness", SHARPNESS_THRESHOLDS)
    eye_sweep = sweep(small_copies, "eye_distance", EYE_THRESHOLDS)
    values = list(ratios.values())
    ratio = {
        "median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3),
        "min_photo": min(ratios, key=ratios.get), "max_photo": max(ratios, key=ratios.get),
    }
    elapsed = time.perf_counter() - started

    auto, high = quality.THRESHOLDS["auto"], quality.THRESHOLDS["high"]
    print(f"## The quality gate on {len(photos)} single-face photos and their copies "
          f"(match: cosine distance to the original's embedding <= {threshold:g})\n")
    print(f"auto: eyes >= {auto.min_eye_distance:g} px and sharpness >= {auto.min_sharpness:g}; "
          f"high: eyes >= {high.min_eye_distance:g} px and sharpness >= {high.min_sharpness:g}. "
          "Blur sigma: % of the original's face box width.\n")
    print("| variant | photos | faces detected | match original | eyes (px) | sharpness | pass auto | pass high "
          "| auto refuses a match | auto passes a non-match |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['photos']} | {r['detected']} | {r['match']}/{r['detected']} | "
              f"{_span(r['eye_distance'], 1)} | {_span(r['sharpness'], 2)} | {r['pass_auto']} | {r['pass_high']} | "
              f"{r['auto_refuses_a_match']} | {r['auto_passes_a_non_match']} |")
    for title, key, table in (
        (f"A sharpness threshold alone, over the {sum(c['detected'] for c in blurred_copies)} detected blurred copies",
         "sharpness", sharpness_sweep),
        (f"An eye-distance threshold alone, over the {sum(c['detected'] for c in small_copies)} detected small copies",
         "eyes", eye_sweep),
    ):
        print(f"\n### {title}\n")
        print(f"| {key} threshold | refused | refused though matching | passed though not matching |")
        print("|---:|---:|---:|---:|")
        for s in table:
            print(f"| {s['threshold']:g} | {s['refused']} | {s['refused_though_matching']} | "
                  f"{s['passed_though_not_matching']} |")
    print(f"\nEye distance / face box width over the originals: median {ratio['median']}, "
          f"range {ratio['min']} ({ratio['min_photo']}) - {ratio['max']} ({ratio['max_photo']}).")
    print(f"\n{len(photos) * len(variants)} faces embedded in {elapsed:.0f} s.")

    common.write_json(RESULTS, {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions": common.versions(),
        "pipeline": {"model": settings.model, "detector": settings.detector,
                     "detection_max_side": settings.detection_max_side, "match_threshold": threshold},
        "thresholds": {level: vars(t) for level, t in quality.THRESHOLDS.items()},
        "copies": {
            "eyes": "cv2.resize(INTER_AREA) by N / the original's eye distance",
            "blur": "cv2.GaussianBlur(ksize=(0, 0), sigmaX=sigmaY=P/100 * the original's face box width)",
            "blur then eyes": "the blurred copy (full resolution), then resized as eyes",
        },
        "photos": [p.name for p in photos],
        "elapsed_s": round(elapsed, 1),
        "summary": rows,
        "sharpness_sweep_blurred": sharpness_sweep,
        "eye_distance_sweep_small": eye_sweep,
        "eye_distance_over_box_width": ratio | {"photos": {name: round(v, 3) for name, v in ratios.items()}},
        "copies_by_variant": variants,
    })
    print(f"\nWrote {RESULTS.relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
