"""Duplicate-check benchmark: what screening a new face for duplicates adds to one enrollment,
warm and cold, with 100,000 and 1,000,000 faces held.

    python bench/duplicate_check.py   (make bench-duplicate-check; env SIZES, default 100000,1000000)

Every POST /api/embeddings screens its faces (``Enrollment.enroll``): ``DuplicateFinder.prepare``
brings the organization's in-memory vectors up to the committed manifest (warm: one manifest
GET; cold: every shard), then ``DuplicateFinder.screen`` searches the 128 nearest held faces,
fits each query's tail and reads the labels of any significant matches (one BatchGetItem).

As bench/search.py does, a moto server runs in this process on a localhost port (S3 and
DynamoDB over real HTTP); per size N, one organization is filled with N seeded random unit
vectors (Dlib's 128 dimensions, float32) the way compaction leaves them: shards of
``FULL_SHARD_VECTORS`` rows (the last one smaller), committed with ``Writes.commit_vectors``, their
ids allocated from the organization's counter. The held faces have no metadata (none is ever a
significant match, so the check never reads it).

The random vectors are drawn face-like, not uniformly on the sphere: normalise(mean + L z), the
mean and covariance of the Dlib embeddings of identities.csv's photos (a child embeds them
first), shrunk halfway towards a multiple of the identity and spread 1.1 (what bench/significance.py's
fit to the real stranger distances chose: ``synthetic_space`` in bench/results/significance.json).
Uniform vectors would lie about 0.6 away from every real face, so each query's tail would be
fitted far from real faces and any two real faces, strangers too, would look like significant
duplicates (a first version of this benchmark flagged img3.jpg, another person, against img1.jpg).
The search costs the same either way; what changes is which matches are significant, and so
whether the labels are read.

Then COLD_REPEATS (default 3) times, a NEW process plays the ApiFunction after a cold start: it
builds FaceMatch with the real model (``FaceEmbedder.load("Dlib", "dlib", detection_max_side)``)
and its clients, embeds a warm-up photo (img3.jpg: the model's one-off costs are not the
check's), and then

- cold: enrolls ``img1.jpg`` (``Enrollment.enroll``, ``on_duplicate="allow"``), a face the
  organization does not hold: its ``prepare`` loads every shard. Its time, the enrollment's, and
  the process's resident memory before and after, and at its peak during it (VmRSS and VmHWM
  from /proc/self/status, the peak reset just before the enrollment through
  /proc/self/clear_refs, so that the model load's own peak, ``init_peak_rss_mb``, is not counted;
  not ru_maxrss, which on Linux survives exec and would report this large parent's peak);
- warm: REPEATS (default 7) rounds after one unmeasured round, each in this order: ``prepare``
  (taking in the last round's erasure, ``prepare_after_erasure_ms``), ``prepare`` again (a 304,
  ``prepare_unchanged_ms``), ``screen`` of img1's vector (``screen_new_ms``), the bare-numpy floor
  of its search (``matrix @ q`` and the 128 largest, sorted: ``floor_ms``), an enrollment of img1,
  a new face (``new_*``: nothing significant, no label read); ``prepare`` taking in that commit
  (one GET of the manifest and of the new one-face shard, ``prepare_after_commit_ms``),
  ``screen`` of img1's vector, held once now (``screen_held_*``), an enrollment of img1 again
  (``dup_*``: one significant duplicate, whose label is read: one BatchGetItem); then both
  enrollments are erased (``Holdings.delete_person``, not measured), so every round starts with
  img1 not held. In each enrollment ``prepare``, ``screen``, the search
  (``VectorStore.nearest_each``), the label read (``Catalog.labels``), the embedding
  (``FaceEmbedder.embed_photo``) and the write (``Writes.enroll``) are timed by wrappers set on
  those objects (the files are untouched). ``check`` = that enrollment's prepare + screen: what
  the duplicate check adds to it, its manifest unchanged since the round's own prepare (as for a
  process whose organization nobody wrote to since its last request; ``prepare_after_commit_ms``
  is the prepare when one enrollment was committed since). Warm figures are medians over all
  children's rounds.

The copies are erased because they would not stay duplicates: with more than about 8 copies of
a face held, they fill the censored lowest ranks of the query's tail fit and the fit then
judges even distance 0 not significant (a first version of this benchmark, which kept them:
img1 was found 2, 3, 4, 5, 5, 5, 5 times as copies accumulated, then from the 10th copy on, 0).

S3 is moto, in this process: a cold load here is bound by CPU and memory copies on this machine
(moto's server and boto3 sharing 2 cores), not by the network; real S3 adds its latency and
bandwidth (bench/results/search.json's cold loads are the same kind of moto measurement).

The facematch package is copied aside and imported from the copy here and in every child (as
bench/search.py does), so that edits to layers/ during a run do not mix versions.

Prints Markdown tables; writes bench/results/duplicate_check.json (or into BENCH_RESULTS_DIR). Timings
on a noisy 2-core machine: compare within one run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search  # noqa: E402  (bench/search.py: its fill, vectors, snapshot and memory readers)

import common  # noqa: E402

BUCKET = "facematch-bench-duplicates"
TABLE = "facematch-bench-duplicates"
SEED = 20240611
PHOTO = "img1.jpg"
WARMUP = "img3.jpg"  # the model's first embedding, before anything is measured
LABEL = "bench-duplicates-img1"  # the external_id of the benchmark's enrollments of PHOTO
API_MEMORY_MB = 1769  # template.yaml, ApiFunction MemorySize
# bench/significance.py's synthetic face space (bench/results/significance.json, synthetic_space).
SHRINK, SPREAD = 0.5, 1.1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Children: a fresh process each. Each prints one JSON line.


def child_faces(photos: str) -> None:
    """The Dlib embeddings of identities.csv's photos, and each one's person."""
    import csv

    from facematch.config import get_settings
    from facematch.faces import FaceEmbedder

    settings = get_settings()
    embedder = FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
    directory = Path(photos)
    with (directory / "identities.csv").open(newline="") as handle:
        named = sorted((row["file"], row["identity"]) for row in csv.DictReader(handle))
    limits = {"max_bytes": 20 << 20, "max_pixels": 40_000_000, "max_decoded_bytes": 120_000_000}
    vectors = [embedder.embed_photo((directory / name).read_bytes(), **limits).vector.tolist() for name, _ in named]
    print(json.dumps({"names": [n for n, _ in named], "people": [p for _, p in named], "vectors": vectors}))


def face_space(env: dict[str, str], photos: Path) -> tuple[common.FaceSpace, dict[str, Any]]:
    real = run_child(env, "faces", str(photos))
    vectors = np.asarray(real["vectors"], np.float32)
    people = np.asarray(real["people"])
    space = common.FaceSpace(vectors, SHRINK, SPREAD)
    strangers = (1.0 - vectors @ vectors.T)[np.triu(people[:, None] != people[None, :], 1)]
    drawn = space.draw(800, np.random.default_rng(SEED))
    synthetic = (1.0 - drawn[:400] @ drawn[400:].T).ravel()
    quantiles = (0.001, 0.01, 0.05, 0.5)
    return space, {
        "photos": len(vectors), "stranger_pairs": int(strangers.size), "shrink": SHRINK, "spread": SPREAD,
        "stranger_distance_quantiles_real_synthetic": {
            str(q): [round(float(np.quantile(strangers, q)), 4), round(float(np.quantile(synthetic, q)), 4)]
            for q in quantiles
        },
    }


# The ApiFunction process after a cold start.


def child_api(organization: str, size: int, photo: str, warmup: str, repeats: int) -> None:
    started = time.perf_counter()
    import facematch
    from facematch import significance
    from facematch.audit import Actor
    from facematch.aws import client
    from facematch.catalog import Catalog
    from facematch.config import get_settings
    from facematch.faces import FaceEmbedder
    from facematch.inputs import ImageInput
    from facematch.shards import ShardStore
    from facematch.wiring import FaceMatch

    settings = get_settings()
    embedder = FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
    for service_name in ("s3", "dynamodb"):
        client(service_name)
    service = FaceMatch(settings, embedder, Catalog(settings.table), ShardStore(settings.bucket))
    init_s = time.perf_counter() - started
    photo_bytes = Path(photo).read_bytes()
    # Warm-up: the first embedding's one-off costs are not the check's.
    service.enrollment.embed(ImageInput(Path(warmup).name, Path(warmup).read_bytes()))
    vector = service.enrollment.embed(ImageInput(Path(photo).name, photo_bytes)).vector

    spent: dict[str, float] = defaultdict(float)

    def instrument(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += (time.perf_counter() - start) * 1000.0

        setattr(owner, name, timed)  # on the instance: the class and the files are untouched

    finder = service.enrollment.duplicates
    instrument(finder, "prepare", "prepare")
    instrument(finder, "screen", "screen")
    instrument(service.vectors, "nearest_each", "search")
    instrument(service.catalog, "labels", "labels")
    instrument(service.embedder, "embed_photo", "embed")
    instrument(service.writes, "enroll", "write")

    def measure(function: Any) -> tuple[float, dict[str, float], Any]:
        spent.clear()
        start = time.perf_counter()
        result = function()
        return (time.perf_counter() - start) * 1000.0, dict(spent), result

    def enroll() -> Any:
        return service.enrollment.enroll(organization, [ImageInput(Path(photo).name, photo_bytes)], external_id=LABEL)

    def enrolled(prefix: str, total: float, parts: dict[str, float], answer: Any) -> dict[str, Any]:
        return {
            f"{prefix}enroll_ms": total,
            **{f"{prefix}{name}_ms": parts.get(name, 0.0) for name in ("prepare", "screen", "search", "labels", "embed", "write")},
            f"{prefix}check_ms": parts["prepare"] + parts["screen"],
            f"{prefix}duplicates": len(answer.embeddings[0].duplicates),
        }

    def forget_copies() -> float:
        """Erase this benchmark's enrollments of the photo (not measured): img1 is new again."""
        start = time.perf_counter()
        service.holdings.delete_person(organization, LABEL, Actor("benchmark"))
        return (time.perf_counter() - start) * 1000.0

    # Cold: this process has never read the organization, which holds no copy of the photo.
    init_peak = search.peak_rss_mb()  # VmHWM: this process's own (exec starts it afresh), unlike ru_maxrss
    rss_before = search.rss_now_mb()
    peak_reset = reset_peak_rss()
    cold_ms, cold_parts, answer = measure(enroll)
    rss_after = search.rss_now_mb()
    peak = search.peak_rss_mb()
    held = finder.prepare(organization)
    if held < size:
        raise RuntimeError(f"the cold load saw {held} vectors, {size} were written")
    index = service.vectors._indexes[(organization, settings.model)]  # noqa: SLF001 - the floor's matrix
    cold = {
        **enrolled("", cold_ms, cold_parts, answer),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "peak_rss_mb": peak,
        "peak_reset": peak_reset,
        "rss_growth_mb": rss_after - rss_before,
        "peak_growth_mb": peak - rss_before,
        "init_peak_rss_mb": init_peak,
        "capacity_rows": len(index.ids),
    }
    forget_copies()

    def floor() -> None:
        scores = index.vectors[: index.size] @ vector
        k = significance.NEIGHBOURS
        best = np.argpartition(scores, index.size - k)[-k:]
        best[np.argsort(scores[best])[::-1]]

    def screened(prefix: str) -> dict[str, Any]:
        total, parts, screening = measure(lambda: finder.screen(organization, vector[None, :], "allow"))
        return {f"{prefix}_ms": total, f"{prefix}_search_ms": parts["search"],
                f"{prefix}_labels_ms": parts.get("labels", 0.0), f"{prefix}_duplicates": len(screening.duplicates[0])}

    def one_round() -> dict[str, Any]:
        found: dict[str, Any] = {}
        # No copy of the photo is held: the last round's erasure is committed, not yet read.
        found["prepare_after_erasure_ms"] = measure(lambda: finder.prepare(organization))[0]
        found["prepare_unchanged_ms"] = measure(lambda: finder.prepare(organization))[0]
        found |= screened("screen_new")
        found["floor_ms"] = measure(floor)[0]
        found |= enrolled("new_", *measure(enroll))  # a new face: nothing significant
        # One copy held now (just committed, not yet read by this process).
        found["prepare_after_commit_ms"] = measure(lambda: finder.prepare(organization))[0]
        found |= screened("screen_held")
        found |= enrolled("dup_", *measure(enroll))  # its duplicate found: the labels are read
        found["erase_ms"] = forget_copies()
        return found

    one_round()  # warm-up, not measured
    rounds = [one_round() for _ in range(repeats)]
    finder.prepare(organization)
    # The tail fit alone, on the distances a screen of the photo feeds it.
    neighbours = service.vectors.nearest_each(
        organization, settings.model, vector[None, :], significance.NEIGHBOURS, revalidate=False
    )[0]
    distances = np.array([round(max(0.0, 1.0 - c.similarity), 6) for c in neighbours.candidates])

    def fit() -> significance.TailEstimate:
        return significance.from_neighbours(
            distances, neighbours.to_nearest, neighbours.searched, settings.model, service.embedder.default_threshold
        )

    fits = [measure(fit)[0] for _ in range(20)]
    print(json.dumps({
        "held": held,
        "init_s": init_s,
        "cold": cold,
        "warm": rounds,
        "fit_ms": statistics.median(fits),
        "nearest_held_distance": float(distances[0]),
        "facematch_file": facematch.__file__,
    }))


def run_child(env: dict[str, str], *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        env=env, cwd=common.ROOT, capture_output=True, text=True, timeout=900,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["child_total_s"] = wall
    return result


# ---------------------------------------------------------------------------------------------
# One size.


def bench_size(
    size: int, env: dict[str, str], repeats: int, cold_repeats: int, photos: Path, space: common.FaceSpace
) -> dict[str, Any]:
    from facematch.catalog import Catalog
    from facematch.config import get_settings
    from facematch.shards import ShardStore
    from facematch.writes import Writes

    settings = get_settings()
    organization = f"dup-{size}"
    catalog = Catalog(settings.table)
    writes = Writes(catalog, ShardStore(BUCKET), search.DIMENSIONS, settings.shard_load_concurrency)
    vectors = space.draw(size, np.random.default_rng(SEED + size))
    ids = np.asarray(catalog.allocate_ids(organization, size), np.int64)  # later enrollments' ids follow
    log(f"[{size:,}] filling S3 ({size * search.DIMENSIONS * 4 / 1e6:.0f} MB of vectors)")
    fill_s = search.fill(writes, organization, ids, vectors)
    del vectors, ids
    stored = search.organization_objects(organization, BUCKET)
    log(f"[{size:,}] filled in {fill_s:.1f} s: {stored['objects']} objects, {stored['bytes'] / 1e6:.1f} MB")

    children = []
    for number in range(cold_repeats):
        child = run_child(env, "api", organization, str(size), str(photos / PHOTO), str(photos / WARMUP), str(repeats))
        cold = child["cold"]
        log(
            f"[{size:,}] child {number + 1}/{cold_repeats}: cold prepare {cold['prepare_ms']:.0f} ms, "
            f"enroll {cold['enroll_ms']:.0f} ms, RSS {cold['rss_before_mb']:.0f} -> {cold['rss_after_mb']:.0f} MB "
            f"(peak {cold['peak_rss_mb']:.0f}); warm check "
            f"{statistics.median(r['new_check_ms'] for r in child['warm']):.1f} ms (new face), "
            f"{statistics.median(r['dup_check_ms'] for r in child['warm']):.1f} ms (duplicate) of "
            f"{statistics.median(r['new_enroll_ms'] for r in child['warm']):.0f} ms; {child['child_total_s']:.0f} s"
        )
        children.append(child)

    rounds = [r for child in children for r in child["warm"]]
    for r in rounds:
        if r["new_duplicates"] or r["screen_new_duplicates"] or r["dup_duplicates"] != 1 or r["screen_held_duplicates"] != 1:
            raise RuntimeError(f"expected no duplicate of a new face and one of a held one: {r}")

    def warm(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 3)

    def cold(key: str) -> float:
        return round(statistics.median(child["cold"][key] for child in children), 3)

    raw_mb = size * (search.DIMENSIONS * 4 + 8) / 2**20  # vectors and ids
    result = {
        "size": size,
        # Warm: medians of every child's rounds. new_: an enrollment of a face not held (nothing
        # significant); dup_: the same photo again, one copy held (one duplicate, labels read).
        "check_new_ms": warm("new_check_ms"),
        "check_dup_ms": warm("dup_check_ms"),
        "enroll_new_ms": warm("new_enroll_ms"),
        "enroll_dup_ms": warm("dup_enroll_ms"),
        "check_new_share": round(statistics.median(r["new_check_ms"] / r["new_enroll_ms"] for r in rounds), 4),
        "check_dup_share": round(statistics.median(r["dup_check_ms"] / r["dup_enroll_ms"] for r in rounds), 4),
        **{f"{prefix}{part}_ms": warm(f"{prefix}{part}_ms")
           for prefix in ("new_", "dup_") for part in ("prepare", "screen", "search", "labels", "embed", "write")},
        "prepare_unchanged_ms": warm("prepare_unchanged_ms"),
        "prepare_after_commit_ms": warm("prepare_after_commit_ms"),
        "prepare_after_erasure_ms": warm("prepare_after_erasure_ms"),
        "screen_new_ms": warm("screen_new_ms"),
        "screen_new_search_ms": warm("screen_new_search_ms"),
        "screen_held_ms": warm("screen_held_ms"),
        "screen_held_search_ms": warm("screen_held_search_ms"),
        "screen_held_labels_ms": warm("screen_held_labels_ms"),
        "floor_ms": warm("floor_ms"),
        "search_over_floor": round(warm("screen_new_search_ms") / warm("floor_ms"), 3),
        "fit_ms": round(statistics.median(child["fit_ms"] for child in children), 3),
        "erase_ms": warm("erase_ms"),
        # Cold: medians over the children (each one's first enrollment, of a face not held).
        "cold_prepare_s": round(cold("prepare_ms") / 1000.0, 3),
        "cold_enroll_s": round(cold("enroll_ms") / 1000.0, 3),
        "cold_screen_ms": cold("screen_ms"),
        "cold_mb_per_s": round(stored["bytes"] / (cold("prepare_ms") / 1000.0) / 1e6, 1),
        "rss_before_mb": round(cold("rss_before_mb"), 1),
        "rss_after_mb": round(cold("rss_after_mb"), 1),
        "peak_rss_mb": round(cold("peak_rss_mb"), 1),
        "rss_growth_mb": round(cold("rss_growth_mb"), 1),
        "peak_growth_mb": round(cold("peak_growth_mb"), 1),
        "init_peak_rss_mb": round(cold("init_peak_rss_mb"), 1),
        "raw_mb": round(raw_mb, 1),
        "rss_growth_over_raw": round(cold("rss_growth_mb") / raw_mb, 3),
        "peak_share_of_api_memory": round(cold("peak_rss_mb") / API_MEMORY_MB, 3),
        "peak_reset": all(child["cold"]["peak_reset"] for child in children),
        # Context.
        "objects": stored["objects"],
        "object_bytes": stored["bytes"],
        "fill_s": round(fill_s, 2),
        "init_s": round(statistics.median(child["init_s"] for child in children), 2),
        "child_total_s": [round(child["child_total_s"], 1) for child in children],
        "nearest_held_distance": children[0]["nearest_held_distance"],
        "facematch_file": children[0]["facematch_file"],
        "repeats": repeats,
        "cold_repeats": cold_repeats,
        "cold_runs": [child["cold"] for child in children],
        "warm_rounds": rounds,
    }
    log(f"[{size:,}] " + json.dumps({k: v for k, v in result.items() if k not in ("cold_runs", "warm_rounds")}))
    return result


# ---------------------------------------------------------------------------------------------


def tables(results: list[dict[str, Any]]) -> str:
    lines = [
        "| faces held | warm check ms: new face (of enrollment) | duplicate found (of enrollment) | enrollment ms "
        "| cold prepare s (MB/s) | cold enrollment s | RSS before -> after cold load MB (growth; raw) "
        "| peak RSS MB (of 1,769) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['check_new_ms']:.1f} ({100 * r['check_new_share']:.1f} %) "
            f"| {r['check_dup_ms']:.1f} ({100 * r['check_dup_share']:.1f} %) | {r['enroll_new_ms']:.0f} "
            f"| {r['cold_prepare_s']:.2f} ({r['cold_mb_per_s']:.0f}) | {r['cold_enroll_s']:.2f} "
            f"| {r['rss_before_mb']:.0f} -> {r['rss_after_mb']:.0f} (+{r['rss_growth_mb']:.0f}; {r['raw_mb']:.0f}) "
            f"| {r['peak_rss_mb']:.0f} ({100 * r['peak_share_of_api_memory']:.0f} %) |"
        )
    lines += [
        "",
        "Warm, in ms (medians): where the check's time goes, and the enrollment's other parts.",
        "",
        "| faces held | prepare, unchanged (304) | prepare after a commit | search k=128 | numpy floor k=128 "
        "| tail fit | label read (duplicate) | screen, new face | screen, duplicate | embed | write |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['new_prepare_ms']:.2f} | {r['prepare_after_commit_ms']:.2f} "
            f"| {r['new_search_ms']:.2f} | {r['floor_ms']:.2f} | {r['fit_ms']:.2f} | {r['dup_labels_ms']:.2f} "
            f"| {r['new_screen_ms']:.2f} | {r['dup_screen_ms']:.2f} | {r['new_embed_ms']:.0f} | {r['new_write_ms']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    sizes = [int(s) for s in (os.environ.get("SIZES") or "100000,1000000").split(",") if s.strip()]
    repeats = int(os.environ.get("REPEATS", "7"))
    cold_repeats = int(os.environ.get("COLD_REPEATS", "3"))
    results_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or common.RESULTS)
    photos = common.faces_dir()

    code = search.snapshot_code()
    sys.path.insert(0, code["path"])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [code["path"], os.environ.get("PYTHONPATH")]))
    log(f"measuring facematch {code['facematch_sha256']} (HEAD {code['head']}, modified: {code['layers_modified']})")
    from facematch_local.embedded_aws import start_moto_server

    server, endpoint = start_moto_server()
    env = common.child_env(FACEMATCH_AWS_ENDPOINT=endpoint, FACEMATCH_BUCKET=BUCKET, FACEMATCH_TABLE=TABLE)
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.update(env)  # before any facematch import: configuration is read once
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        from facematch_local.resources import create_resources

        create_resources(BUCKET, TABLE)
        log(f"moto server at {endpoint}; sizes {sizes}")
        recorded = {k: v for k, v in code.items() if k not in ("path", "root")}
        space, space_check = face_space(env, photos)
        log(f"face space: stranger distance quantiles (real, synthetic) {space_check['stranger_distance_quantiles_real_synthetic']}")
        results = [bench_size(size, env, repeats, cold_repeats, photos, space) for size in sizes]
    finally:
        server.stop()
        shutil.rmtree(code.pop("root"), ignore_errors=True)
    payload = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "photo": PHOTO,
        "warmup_photo": WARMUP,
        "api_memory_mb": API_MEMORY_MB,
        "held_faces": space_check,
        "s3": "moto server in the benchmark's process, over localhost HTTP: no network latency or bandwidth",
        "total_s": round(time.perf_counter() - started, 1),
        # Other work on the machine (1-minute load average, 2 cores): before and after the run.
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "code": recorded,
        "sizes": results,
    }
    search.write_json(results_dir / "duplicate_check.json", payload)

    print(f"## The duplicate check of one enrollment ({PHOTO}, Dlib), warm and cold\n")
    print(tables(results))
    print(
        f"\nWarm: medians of {cold_repeats} x {repeats} rounds; the check is the enrollment's prepare (a 304) "
        "+ screen, timed inside it; new face: img1 not held (nothing significant), duplicate found: one "
        "copy of img1 held (its label read). Cold: medians of "
        f"{cold_repeats} fresh processes; RSS from /proc/self/status around that first enrollment. "
        "S3 and DynamoDB are moto in this process over localhost: cold loads are CPU and memory-copy "
        "bound here, real S3 adds network time."
    )
    for r in results:
        print(
            f"info  {r['size']:,}: the check adds {r['check_new_ms']:.1f} ms to an enrollment of {r['enroll_new_ms']:.0f} ms "
            f"({100 * r['check_new_share']:.1f} %), {r['check_dup_ms']:.1f} ms when it finds a duplicate "
            f"(+{r['prepare_after_commit_ms'] - r['new_prepare_ms']:.0f} ms when another enrollment was committed "
            f"since this process last looked); cold, prepare loads {r['object_bytes'] / 1e6:.0f} MB in "
            f"{r['cold_prepare_s']:.2f} s and the process grows by {r['rss_growth_mb']:.0f} MB "
            f"to {r['rss_after_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB, init peak {r['init_peak_rss_mb']:.0f} MB; "
            f"ApiFunction {API_MEMORY_MB} MB)"
        )
    load = payload["load_average"]
    print(f"\nMachine load average (1 min, 2 cores) {load[0]} before, {load[1]} after. Wrote {results_dir / 'duplicate_check.json'}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        kind, *rest = arguments.child
        if kind == "faces":
            child_faces(*rest)
        elif kind == "api":
            organization, size, photo, warmup, repeats = rest
            child_api(organization, int(size), photo, warmup, int(repeats))
        else:
            sys.exit(f"unknown child {kind}")
    else:
        main()
