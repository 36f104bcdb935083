"""Enrollment benchmark: FaceMatch's embedding pipeline against plain DeepFace, in one run.

    python bench/enroll.py [--cold-photo img1.jpg] [--cold-repeats 3]

Measures, on every .jpg of FACEMATCH_FACES_DIR (default ../shared/faces/deepface):
- time per photo, warm: ``DeepFace.represent(model_name="Dlib", detector_backend="dlib")`` against
  ``FaceMatch.embed`` (decode + detect + align + embed). Each pipeline lives in its own
  process, has built its model and embedded a warm-up photo first; the two are fed the photos
  alternately, one at a time (order swapped every photo), so the machine's noise hits both alike;
- verification accuracy on master.csv at DeepFace's Dlib cosine threshold (0.07);
- cold start, process start to first embedding (median of N, after one untimed run of each to
  warm the page cache), and the peak RSS of that process: plain ``python -c 'from deepface import
  DeepFace; DeepFace.represent(...)'`` against Lambda init + first invocation of
  functions/api/app.py with a multipart enrollment event, its S3 and DynamoDB a moto server
  in this process (reached over HTTP, as Lambda reaches AWS); ``facematch_cold_embed_only_s`` is
  the pipeline alone (import, build the service, embed one photo), for reference. Extra photos
  (``--cold-extra-photos``) show how the ratio depends on the photo: DeepFace's cold start is
  mostly detection over every pixel, so it is longest for large photos.

Prints a Markdown table and writes bench/results/enroll.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGETS = {
    "speedup": (8.0, True),
    "facematch_accuracy": (0.993, True),
    "cold_ratio": (0.3, False),
    "rss_ratio": (0.5, False),
}


def measure_per_photo(all_photos: list[Path], warmup: Path) -> dict[str, dict]:
    """Both pipelines over every photo, interleaved; returns per-pipeline results by file name."""
    results: dict[str, dict] = {"deepface": {}, "facematch": {}}
    ready: dict[str, dict] = {}
    with common.Worker("deepface", warmup) as deepface, common.Worker("facematch", warmup) as facematch:
        workers = {"deepface": deepface, "facematch": facematch}
        for kind, worker in workers.items():
            ready[kind] = worker.ready
        for index, photo in enumerate(all_photos):
            order = ("deepface", "facematch") if index % 2 == 0 else ("facematch", "deepface")
            for kind in order:
                results[kind][photo.name] = workers[kind].embed(photo)
            d, f = results["deepface"][photo.name], results["facematch"][photo.name]
            print(
                f"  [{index + 1:>2}/{len(all_photos)}] {photo.name:<24} deepface {d['wall_s']:6.2f}s  "
                f"facematch {f['wall_s']:6.3f}s",
                file=sys.stderr,
                flush=True,
            )
    return {"results": results, "ready": ready}


def embedded_aws() -> str:
    """S3 and DynamoDB for the cold-start children, served from this process (moto's server)
    the way Lambda reaches AWS over the network: the children pay no mock's start-up."""
    from facematch_local.embedded_aws import start_moto_server

    _, endpoint = start_moto_server()
    os.environ.update(common.child_env(FACEMATCH_AWS_ENDPOINT=endpoint))
    from facematch.aws import reset_clients
    from facematch_local.resources import create_resources

    reset_clients()
    create_resources(os.environ["FACEMATCH_BUCKET"], os.environ["FACEMATCH_TABLE"])
    return endpoint


def measure_cold(photo: Path, repeats: int, endpoint: str) -> dict[str, list[common.ColdRun]]:
    env = common.child_env(FACEMATCH_AWS_ENDPOINT=endpoint)
    plain = [
        sys.executable,
        "-c",
        "from deepface import DeepFace; "
        f"DeepFace.represent({str(photo)!r}, model_name='Dlib', detector_backend='dlib'); "
        "import time; print('MARK FIRST_EMBEDDING %.6f' % time.time(), flush=True)",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(enrollment_event(photo), handle)
        event_path = handle.name
    commands = {
        "deepface": plain,
        "facematch": [sys.executable, str(common.WORKER), "cold-handler", str(photo), event_path],
        "facematch_embed_only": [sys.executable, str(common.WORKER), "cold-embed", str(photo)],
    }
    runs: dict[str, list[common.ColdRun]] = {kind: [] for kind in commands}
    try:
        for kind, argv in commands.items():  # untimed: loads the libraries into the page cache
            common.cold_run(argv, env)
        kinds = list(commands)
        for repeat in range(repeats):
            for kind in kinds if repeat % 2 == 0 else reversed(kinds):
                run = common.cold_run(commands[kind], env)
                runs[kind].append(run)
                print(
                    f"  cold {kind:<21} #{repeat + 1}: first embedding {run.first_embedding_s:5.2f}s "
                    f"(exit {run.wall_s:5.2f}s, CPU {run.cpu_s:5.2f}s), peak RSS {run.rss_mb:6.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        Path(event_path).unlink(missing_ok=True)
    return runs


def enrollment_event(photo: Path) -> dict:
    """events/enroll-multipart.json with a multipart body carrying the photo, as API Gateway sends it."""
    from facematch_testing.events import multipart_event

    return multipart_event(
        "enroll-multipart.json",
        [("organization", "bench"), ("include_embedding", "true")],
        [("images", photo.name, photo.read_bytes())],
    )


def summarize(per_photo: dict, cold: dict, labelled: list, all_photos: list[Path], args) -> dict:
    threshold = common.DLIB_COSINE_THRESHOLD
    out: dict = {}
    for kind in ("deepface", "facematch"):
        results = per_photo["results"][kind]
        walls = [r["wall_s"] for r in results.values()]
        vectors = {name: (r["vector"] if r["ok"] else None) for name, r in results.items()}
        verdict = common.verify(vectors, labelled, threshold)
        everyone = common.verify(vectors, common.identity_pairs(common.faces_dir()), threshold)
        best_accuracy, best_threshold = common.best_threshold_accuracy(verdict["distances"], labelled)
        out[kind] = {
            "s_per_image": sum(walls) / len(walls),
            "median_s": statistics.median(walls),
            "cpu_s_per_image": sum(r["cpu_s"] for r in results.values()) / len(results),
            "accuracy": verdict["accuracy"],
            "identities_accuracy": everyone["accuracy"] if everyone["pairs"] else None,
            "pairs_missing_a_face": verdict["pairs_missing_a_face"],
            "best_accuracy": best_accuracy,
            "best_threshold": best_threshold,
            "no_face": sorted(name for name, r in results.items() if not r["ok"]),
            "distances": verdict["distances"],
            "warmup_s": per_photo["ready"][kind]["warmup_s"],
        }
    deepface, facematch = out["deepface"], out["facematch"]
    shared = set(deepface["distances"]) & set(facematch["distances"])
    disagreements = sum(
        (deepface["distances"][p] <= threshold) != (facematch["distances"][p] <= threshold) for p in shared
    )
    gaps = {p: abs(deepface["distances"][p] - facematch["distances"][p]) for p in shared}
    gap_pair = max(gaps, key=gaps.get) if gaps else None
    max_gap = gaps[gap_pair] if gap_pair else 0.0

    # A cold start ends at the first embedding (the child's mark, on the parent's clock from spawn);
    # the process's exit comes later (TensorFlow's teardown alone is over a second) and is not part
    # of a Lambda cold start, so spawn-to-exit is only reported alongside.
    med = {kind: common.median([r.first_embedding_s for r in runs]) for kind, runs in cold.items()}
    process_wall = {kind: common.median([r.wall_s for r in runs]) for kind, runs in cold.items()}
    process_cpu = {kind: common.median([r.cpu_s for r in runs]) for kind, runs in cold.items()}
    rss = {kind: common.median([r.rss_mb for r in runs]) for kind, runs in cold.items()}
    init_done = common.median([r.marks["INIT_DONE"] for r in cold["facematch"]])
    report = {
        "deepface_s_per_image": round(deepface["s_per_image"], 4),
        "facematch_s_per_image": round(facematch["s_per_image"], 4),
        "speedup": round(deepface["s_per_image"] / facematch["s_per_image"], 2),
        "deepface_accuracy": round(deepface["accuracy"], 4),
        "facematch_accuracy": round(facematch["accuracy"], 4),
        "deepface_cold_s": round(med["deepface"], 3),
        "facematch_cold_s": round(med["facematch"], 3),
        "cold_ratio": round(med["facematch"] / med["deepface"], 3),
        "deepface_rss_mb": round(rss["deepface"], 1),
        "facematch_rss_mb": round(rss["facematch"], 1),
        "rss_ratio": round(rss["facematch"] / rss["deepface"], 3),
        # Extras, for context.
        "facematch_cold_embed_only_s": round(med["facematch_embed_only"], 3),
        "facematch_embed_only_rss_mb": round(rss["facematch_embed_only"], 1),
        "cold_ratio_basis": (
            "facematch_cold_s (Lambda init + first handler call; S3 and DynamoDB: a moto server in "
            "the parent process, reached over HTTP) / deepface_cold_s"
        ),
        "cold_measure": (
            f"a fresh process, from the parent's spawn to the child's first-embedding mark (time.time() "
            f"on both sides); median of {args.cold_repeats} after one untimed run of each (page cache); "
            f"peak RSS is the child's ru_maxrss from wait4"
        ),
        "cold_process_wall_s": {kind: round(value, 3) for kind, value in process_wall.items()},
        "cold_process_wall_ratio": round(process_wall["facematch"] / process_wall["deepface"], 3),
        "cold_process_cpu_s": {kind: round(value, 3) for kind, value in process_cpu.items()},
        "cold_process_cpu_ratio": round(process_cpu["facematch"] / process_cpu["deepface"], 3),
        "facematch_cold_init_done_s": round(init_done, 3),
        "cold_runs_s": {kind: [round(r.first_embedding_s, 3) for r in runs] for kind, runs in cold.items()},
        "cold_rss_runs_mb": {kind: [round(r.rss_mb, 1) for r in runs] for kind, runs in cold.items()},
        "cold_photo": args.cold_photo,
        "deepface_median_s_per_image": round(deepface["median_s"], 4),
        "facematch_median_s_per_image": round(facematch["median_s"], 4),
        "deepface_cpu_s_per_image": round(deepface["cpu_s_per_image"], 4),
        "facematch_cpu_s_per_image": round(facematch["cpu_s_per_image"], 4),
        "cpu_speedup": round(deepface["cpu_s_per_image"] / facematch["cpu_s_per_image"], 2),
        "images": len(all_photos),
        "deepface_no_face": deepface["no_face"],
        "facematch_no_face": facematch["no_face"],
        "pairs": len(labelled),
        "threshold": threshold,
        "deepface_best_accuracy": [round(deepface["best_accuracy"], 4), round(deepface["best_threshold"], 4)],
        "facematch_best_accuracy": [round(facematch["best_accuracy"], 4), round(facematch["best_threshold"], 4)],
        "identities_csv_all_pairs_accuracy": {
            "deepface": deepface["identities_accuracy"] and round(deepface["identities_accuracy"], 4),
            "facematch": facematch["identities_accuracy"] and round(facematch["identities_accuracy"], 4),
        },
        "pairs_decided_differently": disagreements,
        "max_pair_distance_gap": round(max_gap, 4),
        "max_pair_distance_gap_pair": (
            {
                "pair": "-".join(gap_pair),
                "deepface": round(deepface["distances"][gap_pair], 4),
                "facematch": round(facematch["distances"][gap_pair], 4),
            }
            if gap_pair
            else None
        ),
        "detection_max_side": detection_max_side(),
        "warmup_photo": args.warmup_photo,
        "versions": common.versions(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return report


def cold_summary(runs: dict[str, list[common.ColdRun]], photo: Path) -> dict:
    first = {kind: common.median([r.first_embedding_s for r in values]) for kind, values in runs.items()}
    rss = {kind: common.median([r.rss_mb for r in values]) for kind, values in runs.items()}
    from PIL import Image

    with Image.open(photo) as image:
        size = "x".join(map(str, image.size))
    return {
        "pixels": size,
        "deepface_cold_s": round(first["deepface"], 3),
        "facematch_cold_s": round(first["facematch"], 3),
        "facematch_cold_embed_only_s": round(first["facematch_embed_only"], 3),
        "cold_ratio": round(first["facematch"] / first["deepface"], 3),
        "embed_only_cold_ratio": round(first["facematch_embed_only"] / first["deepface"], 3),
        "deepface_rss_mb": round(rss["deepface"], 1),
        "facematch_rss_mb": round(rss["facematch"], 1),
        "rss_ratio": round(rss["facematch"] / rss["deepface"], 3),
        "process_cpu_s": {kind: round(common.median([r.cpu_s for r in values]), 3) for kind, values in runs.items()},
    }


def detection_max_side() -> int:
    import os

    value = os.environ.get("FACEMATCH_DETECTION_MAX_SIDE")
    if value:
        return int(value)
    # The default, read from Settings without importing anything heavy.
    import importlib.util

    spec = importlib.util.spec_from_file_location("_facematch_config", common.ROOT / "layers" / "facematch" / "config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Settings.model_fields["detection_max_side"].default


def table(report: dict) -> str:
    def status(key: str) -> str:
        if key not in TARGETS:
            return ""
        target, higher = TARGETS[key]
        return f"{common.check(report[key], target, higher)} ({'>=' if higher else '<='} {target:g})"

    rows = [
        ("Time per photo (s, mean)", report["deepface_s_per_image"], report["facematch_s_per_image"], "speedup", f"{report['speedup']:.2f}x"),
        ("Accuracy, master.csv @ 0.07", f"{report['deepface_accuracy']:.2%}", f"{report['facematch_accuracy']:.2%}", "facematch_accuracy", ""),
        ("Cold start to first embedding (s)", report["deepface_cold_s"], report["facematch_cold_s"], "cold_ratio", f"{report['cold_ratio']:.3f}"),
        ("Peak RSS, cold start (MB)", report["deepface_rss_mb"], report["facematch_rss_mb"], "rss_ratio", f"{report['rss_ratio']:.3f}"),
    ]
    lines = [
        "| Metric | DeepFace | FaceMatch | Ratio | Target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, plain, ours, key, ratio in rows:
        lines.append(f"| {name} | {plain} | {ours} | {ratio} | {status(key)} |")
    lines += [
        "",
        f"{report['images']} photos, {report['pairs']} pairs, detection_max_side={report['detection_max_side']}. "
        f"Median per photo: DeepFace {report['deepface_median_s_per_image']} s, FaceMatch "
        f"{report['facematch_median_s_per_image']} s; CPU-time speedup {report['cpu_speedup']}x.",
        f"FaceMatch cold start without the handler (import, build, embed): "
        f"{report['facematch_cold_embed_only_s']} s, peak RSS {report['facematch_embed_only_rss_mb']} MB; "
        f"the handler's init (imports, model) ended at {report['facematch_cold_init_done_s']} s. "
        f"cold_ratio uses the handler run. Spawn to process exit: DeepFace "
        f"{report['cold_process_wall_s']['deepface']} s, FaceMatch {report['cold_process_wall_s']['facematch']} s "
        f"(ratio {report['cold_process_wall_ratio']}); CPU time of those processes: DeepFace "
        f"{report['cold_process_cpu_s']['deepface']} s, FaceMatch {report['cold_process_cpu_s']['facematch']} s "
        f"(ratio {report['cold_process_cpu_ratio']}, less sensitive to other load on the machine).",
        f"Pairs decided differently by the two pipelines: {report['pairs_decided_differently']}; "
        f"largest distance gap {report['max_pair_distance_gap']} ({report['max_pair_distance_gap_pair']}). "
        f"Photos without a face: "
        f"DeepFace {report['deepface_no_face'] or 'none'}, FaceMatch {report['facematch_no_face'] or 'none'}.",
    ]
    by_photo = report.get("cold_by_photo", {})
    if len(by_photo) > 1:
        cold_target, _ = TARGETS["cold_ratio"]
        rss_target, _ = TARGETS["rss_ratio"]
        lines += [
            "",
            "Cold start by photo (context; the table above uses " + report["cold_photo"] + "):",
            "",
            "| Photo | Pixels | DeepFace cold (s) | FaceMatch handler cold (s) | ratio | embed-only (s) | ratio | CPU-time ratio (handler) | DeepFace RSS (MB) | FaceMatch RSS (MB) | RSS ratio |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in by_photo.items():
            lines.append(
                f"| {name} | {row['pixels']} | {row['deepface_cold_s']} | {row['facematch_cold_s']} | "
                f"{row['cold_ratio']} {common.check(row['cold_ratio'], cold_target, False)} | "
                f"{row['facematch_cold_embed_only_s']} | {row['embed_only_cold_ratio']} | "
                f"{row['process_cpu_s']['facematch'] / row['process_cpu_s']['deepface']:.3f} | {row['deepface_rss_mb']} | "
                f"{row['facematch_rss_mb']} | {row['rss_ratio']} {common.check(row['rss_ratio'], rss_target, False)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-photo", default="img1.jpg", help="the photo of the cold starts")
    parser.add_argument("--warmup-photo", default="img1.jpg", help="embedded once before timing, not timed")
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument(
        "--cold-extra-photos",
        nargs="*",
        default=["img48.jpg", "img5.jpg"],
        help="cold starts on these too, for context: plain DeepFace's cold start grows with the photo "
        "(img1.jpg costs its dlib detector seconds), so the ratio depends on the photo",
    )
    parser.add_argument("--output", type=Path, default=common.RESULTS / "enroll.json")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos (smoke test)")
    args = parser.parse_args()

    directory = common.faces_dir()
    all_photos = common.photos(directory)[: args.limit]
    labelled = common.pairs(directory)

    print(f"Per-photo timing over {len(all_photos)} photos in {directory} ...", file=sys.stderr, flush=True)
    per_photo = measure_per_photo(all_photos, directory / args.warmup_photo)
    print(f"Cold starts ({args.cold_repeats} each) with {args.cold_photo} ...", file=sys.stderr, flush=True)
    endpoint = embedded_aws()
    cold = measure_cold(directory / args.cold_photo, args.cold_repeats, endpoint)
    extra_cold = {}
    for name in args.cold_extra_photos:
        if name == args.cold_photo:
            continue
        print(f"Cold starts ({args.cold_repeats} each) with {name}, for context ...", file=sys.stderr, flush=True)
        extra_cold[name] = measure_cold(directory / name, args.cold_repeats, endpoint)

    report = summarize(per_photo, cold, labelled, all_photos, args)
    report["cold_by_photo"] = {
        name: cold_summary(runs, directory / name) for name, runs in {args.cold_photo: cold, **extra_cold}.items()
    }
    common.write_json(args.output, report)
    print(table(report))
    print(f"\nWrote {args.output.relative_to(common.ROOT) if args.output.is_relative_to(common.ROOT) else args.output}")


if __name__ == "__main__":
    main()
