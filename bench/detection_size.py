"""Experiment: FaceMatch's speed and accuracy against ``detection_max_side``, in one run.

    python bench/detection_size.py [--sizes 320 400 480 560 640 800] [--no-deepface]

One FaceMatch process holds a service per size (the models are built once and shared) and one
plain-DeepFace process is the reference; every photo of FACEMATCH_FACES_DIR goes through DeepFace
once and through each size, in an order that rotates from photo to photo, so all of them see the
same machine noise. Each stage of the pipeline is timed by wrapping the function that does it:
decode (FaceMatch: decode_image; DeepFace: load_image), detect (dlib's detector, landmarks
included), align (deepface extract_face: crop and rotate), represent (resize, normalise, dlib
network; DeepFace: the network only), other (the rest: downscaling, DeepFace's border padding).

Prints a Markdown table and writes bench/results/detection_size.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

SIZES = (320, 400, 480, 560, 640, 800)
SPEEDUP_TARGET = 8.0
ACCURACY_TARGET = 0.993
STAGES = ("decode", "detect", "align", "represent", "forward", "other")


def run(all_photos: list[Path], warmup: Path, sizes: list[int], with_deepface: bool) -> dict:
    results: dict = {size: {} for size in sizes}
    results["deepface"] = {}
    facematch = common.Worker("facematch", warmup, sizes=sizes, profile=True)
    deepface = common.Worker("deepface", warmup, profile=True) if with_deepface else None
    try:
        lanes: list = ([("deepface", None)] if deepface else []) + [(size, size) for size in sizes]
        for index, photo in enumerate(all_photos):
            shift = index % len(lanes)
            for key, size in lanes[shift:] + lanes[:shift]:
                worker = deepface if key == "deepface" else facematch
                results[key][photo.name] = worker.embed(photo, size=size)
            line = "  ".join(
                f"{key}:{results[key][photo.name]['wall_s']:.2f}" for key, _ in lanes
            )
            print(f"  [{index + 1:>2}/{len(all_photos)}] {photo.name:<24} {line}", file=sys.stderr, flush=True)
    finally:
        facematch.close()
        if deepface:
            deepface.close()
    return results


def summarize(name: str, results: dict, labelled: list, reference: dict | None, identities: list) -> dict:
    threshold = common.DLIB_COSINE_THRESHOLD
    walls = [r["wall_s"] for r in results.values()]
    vectors = {photo: (r["vector"] if r["ok"] else None) for photo, r in results.items()}
    verdict = common.verify(vectors, labelled, threshold)
    distances = verdict["distances"]
    stages = {stage: 0.0 for stage in STAGES}
    for r in results.values():
        measured = 0.0
        for stage, seconds in r["stages"].items():
            stages[stage] += seconds
            measured += seconds
        stages["other"] += max(0.0, r["wall_s"] - measured)
    count = len(results)
    wrong = [
        f"{x}-{y}:{distances[(x, y)]:.4f}"
        for x, y, same in labelled
        if (x, y) in distances and (distances[(x, y)] <= threshold) != same
    ]
    everyone = common.verify(vectors, identities, threshold) if identities else None
    summary = {
        "name": name,
        "identities_accuracy": everyone["accuracy"] if everyone else None,
        "identities_errors": everyone["pairs"] - everyone["correct"] if everyone else None,
        "faces_found": {photo: r["faces"] for photo, r in results.items() if r["ok"] and r["faces"] != 1},
        "s_per_image": sum(walls) / count,
        "median_s": statistics.median(walls),
        "cpu_s_per_image": sum(r["cpu_s"] for r in results.values()) / count,
        "accuracy": verdict["accuracy"],
        "errors": verdict["pairs"] - verdict["correct"],
        "wrong_pairs": wrong,
        # Pairs whose distance lies within 0.005 of the threshold: the ones a small shift flips.
        "near_threshold": sum(abs(d - threshold) < 0.005 for d in distances.values()),
        "no_face": sorted(photo for photo, r in results.items() if not r["ok"]),
        "stages_s_per_image": {stage: seconds / count for stage, seconds in stages.items() if seconds},
    }
    if reference is not None:
        ref = reference["distances"]
        shared = set(ref) & set(distances)
        summary["differs_from_deepface"] = sum((ref[p] <= threshold) != (distances[p] <= threshold) for p in shared)
        summary["max_gap_to_deepface"] = max((abs(ref[p] - distances[p]) for p in shared), default=0.0)
    summary["distances"] = distances
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-deepface", action="store_true", help="take DeepFace's time from bench/results/enroll.json")
    parser.add_argument("--warmup-photo", default="img1.jpg")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos (smoke test)")
    parser.add_argument("--output", type=Path, default=common.RESULTS / "detection_size.json")
    args = parser.parse_args()

    directory = common.faces_dir()
    all_photos = common.photos(directory)[: args.limit]
    labelled = common.pairs(directory)
    identities = common.identity_pairs(directory)
    print(
        f"{len(all_photos)} photos; sizes {args.sizes}; DeepFace {'from enroll.json' if args.no_deepface else 'measured'} ...",
        file=sys.stderr,
        flush=True,
    )
    results = run(all_photos, directory / args.warmup_photo, args.sizes, not args.no_deepface)

    if args.no_deepface:
        saved = json.loads((common.RESULTS / "enroll.json").read_text())
        deepface = {"name": "deepface", "s_per_image": saved["deepface_s_per_image"], "accuracy": saved["deepface_accuracy"]}
        reference = None
    else:
        deepface = summarize("deepface", results["deepface"], labelled, None, identities)
        reference = deepface
    rows = [summarize(str(size), results[size], labelled, reference, identities) for size in args.sizes]
    for row in rows:
        row["speedup"] = deepface["s_per_image"] / row["s_per_image"]
        if "cpu_s_per_image" in deepface:
            row["cpu_speedup"] = deepface["cpu_s_per_image"] / row["cpu_s_per_image"]
        row["meets_targets"] = row["speedup"] >= SPEEDUP_TARGET and row["accuracy"] >= ACCURACY_TARGET

    lines = [
        "| detection_max_side | s/photo (mean) | median | speedup | CPU speedup | accuracy | errors | near 0.07 | decided ≠ DeepFace | identities.csv acc (errors) | decode | detect | align | represent | other | targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def stage(row: dict, name: str) -> str:
        value = row.get("stages_s_per_image", {}).get(name)
        return "" if value is None else f"{value:.3f}"

    def ident(row: dict) -> str:
        if row.get("identities_accuracy") is None:
            return ""
        return f"{row['identities_accuracy']:.2%} ({row['identities_errors']})"

    if "stages_s_per_image" in deepface:
        ds = deepface["stages_s_per_image"]
        lines.append(
            f"| DeepFace (full size) | {deepface['s_per_image']:.3f} | {deepface['median_s']:.3f} | 1.00x | 1.00x | "
            f"{deepface['accuracy']:.2%} | {deepface['errors']} | {deepface['near_threshold']} | - | {ident(deepface)} | "
            f"{stage(deepface, 'decode')} | {stage(deepface, 'detect')} | {stage(deepface, 'align')} | "
            f"{ds.get('forward', 0):.3f} | {stage(deepface, 'other')} | |"
        )
    else:
        lines.append(f"| DeepFace (enroll.json) | {deepface['s_per_image']:.3f} | | 1.00x | | {deepface['accuracy']:.2%} | | | | | | | | | | |")
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['s_per_image']:.3f} | {row['median_s']:.3f} | {row['speedup']:.2f}x | "
            f"{row.get('cpu_speedup', float('nan')):.2f}x | {row['accuracy']:.2%} | {row['errors']} | "
            f"{row['near_threshold']} | {row.get('differs_from_deepface', '')} | {ident(row)} | {stage(row, 'decode')} | "
            f"{stage(row, 'detect')} | {stage(row, 'align')} | {stage(row, 'represent')} | {stage(row, 'other')} | "
            f"{'PASS' if row['meets_targets'] else 'FAIL'} |"
        )
    lines.append("")
    lines.append(
        f"{len(all_photos)} photos, {len(labelled)} pairs, threshold {common.DLIB_COSINE_THRESHOLD}; targets: "
        f"speedup >= {SPEEDUP_TARGET:g}, accuracy >= {ACCURACY_TARGET:.1%}. Stage columns are seconds per photo."
    )
    for row in rows:
        extra = []
        if row["wrong_pairs"]:
            extra.append(f"wrong: {', '.join(row['wrong_pairs'])}")
        if row["faces_found"]:
            extra.append("faces found: " + ", ".join(f"{p} {n}" for p, n in row["faces_found"].items()))
        if row["no_face"]:
            extra.append(f"no face: {', '.join(row['no_face'])}")
        if extra:
            lines.append(f"- {row['name']}: " + "; ".join(extra))
    if "wrong_pairs" in deepface:
        faces = ", ".join(f"{p} {n}" for p, n in deepface["faces_found"].items())
        lines.append(f"- DeepFace: wrong: {', '.join(deepface['wrong_pairs']) or 'none'}; faces found: {faces}")
    lines.append(
        "identities.csv: every pair of its 40 photos (780 pairs, overlapping master.csv's img1-25), "
        "same threshold; context only."
    )
    print("\n".join(lines))

    def clean(row: dict) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "distances"} | {
            "stages_s_per_image": {k: round(v, 4) for k, v in row.get("stages_s_per_image", {}).items()}
        }

    common.write_json(
        args.output,
        {
            "deepface": clean(deepface),
            "sizes": [clean(row) for row in rows],
            "images": len(all_photos),
            "pairs": len(labelled),
            "threshold": common.DLIB_COSINE_THRESHOLD,
            "versions": common.versions(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    print(f"\nWrote {args.output}")


if __name__ == "__main__":
    main()
