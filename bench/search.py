"""Search benchmark: FaceMatch's warm search and cold load against their floors, in one run.

    python bench/search.py            (make bench-search; env SIZES, default 10000,100000,1000000)

Everything runs against moto's server mode over real HTTP: a ``ThreadedMotoServer`` is started
on a free localhost port inside this process, and FaceMatch talks to it through boto3 as it
would talk to S3. Per size N (synthetic L2-normalised float32 vectors, 128 dimensions, seeded),
one organization is filled the way compaction leaves it: shards of ``FULL_SHARD_VECTORS`` rows
(the last one smaller), each written and committed with ``Writes.commit_vectors``.
Then, per size:

- ``floor_ms``: ``scores = matrix @ q`` plus top-k (``np.argpartition`` + sort of the k) over the
  same vectors already in memory, k=1 (``floor_k100_ms``: k=100);
- ``faiss_ms``: FAISS ``IndexFlatIP`` search, k=1;
- ``warm_ms``: the vector search of a warm compare: ``VectorStore.search(org, "Dlib", q, 1,
  revalidate=False)``. A compare revalidates the manifest (a conditional GET, 304 when nothing
  changed) while it embeds the query photo, so that round trip is not on this path; it is
  reported as ``revalidate_only_ms``, and a search that makes it itself as
  ``warm_with_revalidation_ms``. These are interleaved query by query (order rotated), medians of
  REPEATS (default 20) different queries, after warm-up;
- ``loop_ms``: the original approach, a Python loop over the stored embeddings calling DeepFace's
  ``find_cosine_distance`` per row, the rows as Python lists (the original kept them as JSON in
  its database), timed at 10,000 rows and extrapolated linearly beyond (``loop_extrapolated``);
  ``loop_numpy_rows_ms``: the same loop over numpy rows, its best case;
- ``cold_s``: a NEW process loads the organization through ``VectorStore.refresh`` (timed in the
  child around refresh only; its boto3 client is built before the clock starts), against
  ``single_object_s``: a fresh process GETs one object of the same total size from the same
  endpoint into a preallocated buffer. Medians of COLD_REPEATS (default 3), interleaved;
- ``peak_rss_mb`` (VmHWM of the cold-load child), its baseline after imports, and
  ``rss_over_baseline_ratio`` = (peak - baseline) / raw matrix bytes (N x 128 x 4);
- ``bytes_per_embedding`` and ``objects``: the organization's current S3 objects (shards +
  manifest); ``bytes_all_versions`` adds the noncurrent versions the versioned bucket keeps.

Extras per size: ``revalidate_only_ms`` and ``revalidate_client_cpu_ms``; ``times_ms`` (every
sample).

``many_small``: MANY_SMALL (default 10,000) single-vector enrollments, each one commit, into
one organization (a commit compacts); the number of objects left, the time taken, and a check
that a fresh ``refresh`` sees every id exactly once with its vector. Stops early (and says so)
after MANY_SMALL_BUDGET_S seconds (default 600). Where compaction retires replaced shards for a
grace period (``manifest.RETIREMENT_SECONDS``), it also reports the objects left after that window,
by one more enrollment with the write module's clock moved past it.

The facematch package is copied aside at start and imported from the copy, here and in every
child, so that edits to layers/ during a run do not mix versions; its hash is in the results.
OMP_WAIT_POLICY=PASSIVE keeps FAISS's OpenMP threads from spinning against numpy's OpenBLAS.

Prints a Markdown table and PASS/FAIL per target at the largest size (1M by default); writes
bench/results/search.json (one object per size) and bench/results/compaction.json (or into
BENCH_RESULTS_DIR). Timings on a noisy 2-core machine: compare the ratios of one run, not
absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

DIMENSIONS = 128
MODEL = "Dlib"
SEED = 20240611
LOOP_ROWS = 10_000
BUCKET = "facematch-bench"
MANY_SMALL_BUCKET = "facematch-bench-many-small"
TABLE = "facematch-bench"
BLOB_PREFIX = "bench-blobs/"

# name: (target, higher is better); checked at the largest size.
TARGETS = {
    "warm_ratio": (1.25, False),
    "loop_speedup": (100.0, True),
    "cold_ratio": (1.5, False),
    "bytes_per_embedding": (600.0, False),
    "rss_over_baseline_ratio": (1.5, False),
}
MANY_SMALL_OBJECTS_TARGET = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def unit_vectors(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIMENSIONS), dtype=np.float32)
    for start in range(0, rows, 65_536):  # in blocks: no second full-size temporary
        block = vectors[start : start + 65_536]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_now_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so a
    child forked from this (large) parent would report the parent's size."""
    return _status_mb("VmHWM")


# ---------------------------------------------------------------------------------------------
# Children: a fresh process each, nothing cached. Each prints one JSON line.


def child_cold(organization: str) -> None:
    from facematch.aws import client
    from facematch.config import get_settings
    from facematch.search import VectorStore
    from facematch.shards import ShardStore

    settings = get_settings()
    client("s3")  # built before the clock starts, as in the single-object child
    store = VectorStore(ShardStore(settings.bucket), DIMENSIONS, settings.shard_load_concurrency)
    baseline = rss_now_mb()
    started = time.perf_counter()
    count = store.refresh(organization, MODEL)
    refresh_s = time.perf_counter() - started
    print(json.dumps({"count": count, "refresh_s": refresh_s, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}))


def child_single(key: str, size: int) -> None:
    from facematch.aws import client
    from facematch.config import get_settings

    s3 = client("s3")
    buffer = np.empty(size, np.uint8)  # untouched pages: no memory yet
    baseline = rss_now_mb()
    started = time.perf_counter()
    body = s3.get_object(Bucket=get_settings().bucket, Key=key)["Body"]
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        read = body.readinto(view[filled : filled + 8 * 1024 * 1024])
        if not read:
            raise RuntimeError("object ended early")
        filled += read
    download_s = time.perf_counter() - started
    print(json.dumps({"bytes": filled, "download_s": download_s, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}))


def run_child(env: dict[str, str], *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        env=env,
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["child_total_s"] = wall
    return result


# ---------------------------------------------------------------------------------------------
# The searches being compared.


def floor_top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The bare-numpy floor: one product, then the cheapest top-k (a single pass for k=1)."""
    scores = matrix @ query
    if k == 1:
        return np.array([np.argmax(scores)])
    best = np.argpartition(scores, len(scores) - k)[-k:]
    return best[np.argsort(scores[best])[::-1]]


def original_loop(rows: list, query: Any) -> int:
    """How the first FaceMatch searched: DeepFace's distance, one stored embedding at a time."""
    from deepface.modules.verification import find_cosine_distance

    best, best_distance = -1, float("inf")
    for index, row in enumerate(rows):
        distance = find_cosine_distance(row, query)
        if distance < best_distance:
            best, best_distance = index, distance
    return best


def timed(function, *args) -> tuple[float, Any]:  # noqa: ANN001
    started = time.perf_counter()
    result = function(*args)
    return (time.perf_counter() - started) * 1000.0, result


# ---------------------------------------------------------------------------------------------
# S3 helpers (the parent's client, through the same endpoint).


def organization_objects(organization: str, bucket: str = BUCKET) -> dict[str, int]:
    from facematch.aws import client
    from facematch.shards import organization_prefix

    s3 = client("s3")
    prefix = organization_prefix(organization)
    current = [
        entry
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for entry in page.get("Contents", [])
    ]
    versions = [
        entry
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for entry in page.get("Versions", [])
    ]
    return {
        "objects": len(current),
        "bytes": sum(entry["Size"] for entry in current),
        "versions": len(versions),
        "bytes_all_versions": sum(entry["Size"] for entry in versions),
    }


def delete_all_versions(key: str) -> None:
    from facematch.aws import client

    s3 = client("s3")
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    entries = [
        {"Key": entry["Key"], "VersionId": entry["VersionId"]}
        for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
        if entry["Key"] == key
    ]
    if entries:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": entries, "Quiet": True})


# ---------------------------------------------------------------------------------------------
# One size.


def fill(writes, organization: str, ids: np.ndarray, vectors: np.ndarray) -> float:  # noqa: ANN001
    """Shards as compaction leaves them: full ones, then the remainder; committed 4 at a time."""
    from facematch.writes import FULL_SHARD_VECTORS

    started = time.perf_counter()
    chunks = [(start, min(start + FULL_SHARD_VECTORS, len(ids))) for start in range(0, len(ids), FULL_SHARD_VECTORS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: writes.commit_vectors(organization, MODEL, ids[c[0] : c[1]], vectors[c[0] : c[1]]), chunks))
    return time.perf_counter() - started


def bench_size(size: int, env: dict[str, str], repeats: int, cold_repeats: int) -> dict[str, Any]:
    import faiss

    from facematch.aws import client
    from facematch.catalog import Catalog
    from facematch.config import get_settings
    from facematch.search import VectorStore
    from facematch.shards import ShardStore
    from facematch.writes import Writes

    settings = get_settings()
    organization = f"bench-{size}"
    rng = np.random.default_rng(SEED + size)
    vectors = unit_vectors(rng, size)
    ids = np.arange(size, dtype=np.int64) * 7 + 1_000_003  # distinct, not row numbers
    store = VectorStore(ShardStore(BUCKET), DIMENSIONS, settings.shard_load_concurrency)
    writes = Writes(Catalog(settings.table), store.shards, DIMENSIONS, settings.shard_load_concurrency)
    log(f"[{size:,}] filling S3 ({size * DIMENSIONS * 4 / 1e6:.0f} MB of vectors)")
    fill_s = fill(writes, organization, ids, vectors)
    stored = organization_objects(organization)
    log(f"[{size:,}] filled in {fill_s:.1f} s: {stored['objects']} objects, {stored['bytes'] / 1e6:.1f} MB")

    # Warm store: loaded once, in this process.
    started = time.perf_counter()
    loaded = store.refresh(organization, MODEL)
    warm_load_s = time.perf_counter() - started
    if loaded != size:
        raise RuntimeError(f"refresh saw {loaded} vectors, wrote {size}")

    # Queries: stored vectors plus noise, so each has a clear best match.
    rows = rng.choice(size, repeats, replace=False)
    queries = vectors[rows] + 0.3 * rng.standard_normal((repeats, DIMENSIONS), dtype=np.float32) / np.sqrt(DIMENSIONS)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    queries = np.ascontiguousarray(queries, dtype=np.float32)

    index = faiss.IndexFlatIP(DIMENSIONS)
    index.add(vectors)

    methods = {
        "floor": lambda q: int(ids[floor_top_k(vectors, q, 1)[0]]),
        "floor_k100": lambda q: int(ids[floor_top_k(vectors, q, 100)[0]]),
        "faiss": lambda q: int(ids[index.search(q[None, :], 1)[1][0, 0]]),
        # A compare revalidates the manifest while it embeds the query photo (off this path),
        # then searches without a second round trip: that search is the warm vector search.
        "warm": lambda q: store.search(organization, MODEL, q, 1, revalidate=False)[0].embed_id,
        "warm_with_revalidation": lambda q: store.search(organization, MODEL, q, 1)[0].embed_id,
    }
    etag = store.shards.read_manifest(organization).etag
    methods["revalidate_only"] = lambda q: store.shards.read_manifest(organization, if_changed_from=etag)
    for query in queries[:3]:  # warm-up: BLAS threads, FAISS, the HTTP connection
        for method in methods.values():
            method(query)
    times: dict[str, list[float]] = {name: [] for name in methods}
    answers: dict[str, list[Any]] = {name: [] for name in methods}
    names = list(methods)
    for rep, query in enumerate(queries):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            elapsed, answer = timed(methods[name], query)
            times[name].append(elapsed)
            answers[name].append(answer)
    expected = [int(ids[row]) for row in rows]
    agreement = {
        name: sum(a == e for a, e in zip(answers[name], expected)) / repeats
        for name in ("floor", "floor_k100", "faiss", "warm", "warm_with_revalidation")
    }
    med = {name: statistics.median(values) for name, values in times.items()}
    # How much of the revalidation is this process's own CPU (botocore: build, sign, parse).
    cpu = []
    for _ in range(repeats):
        before = time.thread_time()
        methods["revalidate_only"](None)
        cpu.append((time.thread_time() - before) * 1000.0)
    del index

    # The original loop, at LOOP_ROWS rows (numpy rows, and Python lists), extrapolated.
    loop_rows = min(size, LOOP_ROWS)
    as_arrays = list(vectors[:loop_rows])
    as_lists = vectors[:loop_rows].tolist()
    original_loop(as_arrays[:100], queries[0])  # imports DeepFace's module
    loop_times, list_times = [], []
    for rep in range(3):
        q = queries[rep]
        loop_times.append(timed(original_loop, as_arrays, q)[0])
        list_times.append(timed(original_loop, as_lists, q.tolist())[0])
    del as_arrays, as_lists
    # The original stored embeddings as lists (JSON in its database): that loop is loop_ms.
    loop_ms = statistics.median(list_times) * size / loop_rows
    loop_numpy_rows_ms = statistics.median(loop_times) * size / loop_rows

    store.forget(organization)
    del store, vectors
    log(f"[{size:,}] warm {med['warm']:.2f} ms vs floor {med['floor']:.2f} ms; cold loads next")

    # Cold: a fresh process loading through refresh, against one object of the same size.
    blob_key = f"{BLOB_PREFIX}{size}.bin"
    client("s3").put_object(Bucket=BUCKET, Key=blob_key, Body=rng.bytes(stored["bytes"]))
    cold_runs, single_runs = [], []
    for _ in range(cold_repeats):
        cold_runs.append(run_child(env, "cold", organization))
        single_runs.append(run_child(env, "single", blob_key, str(stored["bytes"])))
        if cold_runs[-1]["count"] != size:
            raise RuntimeError(f"cold child saw {cold_runs[-1]['count']} vectors")
    delete_all_versions(blob_key)

    def middle(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    cold_s = middle(cold_runs, "refresh_s")
    single_s = middle(single_runs, "download_s")
    peak = middle(cold_runs, "peak_rss_mb")
    baseline = middle(cold_runs, "baseline_rss_mb")
    raw_mb = size * DIMENSIONS * 4 / 2**20
    result = {
        "size": size,
        "floor_ms": round(med["floor"], 3),
        "faiss_ms": round(med["faiss"], 3),
        "warm_ms": round(med["warm"], 3),
        "warm_ratio": round(med["warm"] / med["floor"], 3),
        "loop_ms": round(loop_ms, 1),
        "loop_speedup": round(loop_ms / med["warm"], 1),
        "cold_s": round(cold_s, 3),
        "cold_ratio": round(cold_s / single_s, 3),
        "bytes_per_embedding": round(stored["bytes"] / size, 1),
        "peak_rss_mb": round(peak, 1),
        # Extras.
        "floor_k100_ms": round(med["floor_k100"], 3),
        "warm_with_revalidation_ms": round(med["warm_with_revalidation"], 3),
        "warm_with_revalidation_ratio": round(med["warm_with_revalidation"] / med["floor"], 3),
        "revalidate_only_ms": round(med["revalidate_only"], 3),
        "revalidate_client_cpu_ms": round(statistics.median(cpu), 3),
        "loop_numpy_rows_speedup": round(loop_numpy_rows_ms / med["warm"], 1),
        "times_ms": {name: [round(t, 3) for t in values] for name, values in times.items()},
        "floor_gb_per_s": round(size * DIMENSIONS * 4 / (med["floor"] / 1000) / 1e9, 2),
        "top1_agreement_with_planted_match": agreement,
        "loop_extrapolated": size > loop_rows,
        "loop_rows_timed": loop_rows,
        "loop_numpy_rows_ms": round(loop_numpy_rows_ms, 1),
        "single_object_s": round(single_s, 3),
        "cold_child_total_s": round(middle(cold_runs, "child_total_s"), 3),
        "single_object_child_total_s": round(middle(single_runs, "child_total_s"), 3),
        "cold_runs_s": [round(run["refresh_s"], 3) for run in cold_runs],
        "single_object_runs_s": [round(run["download_s"], 3) for run in single_runs],
        "cold_mb_per_s": round(stored["bytes"] / cold_s / 1e6, 1),
        "single_object_mb_per_s": round(stored["bytes"] / single_s / 1e6, 1),
        "baseline_rss_mb": round(baseline, 1),
        "single_object_peak_rss_mb": round(middle(single_runs, "peak_rss_mb"), 1),
        "single_object_baseline_rss_mb": round(middle(single_runs, "baseline_rss_mb"), 1),
        "raw_matrix_mb": round(raw_mb, 1),
        "rss_over_baseline_ratio": round((peak - baseline) / raw_mb, 3),
        "objects": stored["objects"],
        "object_bytes": stored["bytes"],
        "object_versions": stored["versions"],
        "bytes_all_versions": stored["bytes_all_versions"],
        "fill_s": round(fill_s, 2),
        "warm_first_load_s": round(warm_load_s, 3),
        "repeats": repeats,
        "cold_repeats": cold_repeats,
    }
    log(f"[{size:,}] {json.dumps(result)}")
    return result


# ---------------------------------------------------------------------------------------------
# Many small enrollments.


def bench_many_small(count: int, budget_s: float) -> dict[str, Any]:
    from facematch import writes as writes_module
    from facematch.aws import client
    from facematch.catalog import Catalog
    from facematch.config import get_settings
    from facematch.manifest import RETIREMENT_SECONDS, RETIREMENT_WINDOW_SECONDS
    from facematch.search import VectorStore
    from facematch.shards import ShardStore
    from facematch.writes import Writes

    settings = get_settings()
    organization = "bench-many-small"
    rng = np.random.default_rng(SEED)
    vectors = unit_vectors(rng, count)
    ids = rng.choice(2**62, size=count, replace=False).astype(np.int64) + 1
    # An unversioned bucket: moto slows down with every version of a key (each PUT copies the
    # version list: 3,000 PUTs to one versioned key, the last 200 took 21x the first 200), and
    # every commit writes a version of manifest.json. S3 has no such cost; object counts agree.
    client("s3").create_bucket(Bucket=MANY_SMALL_BUCKET)
    shards = ShardStore(MANY_SMALL_BUCKET)
    # The write module's clock: moved past the retirement window once the enrollments are done.
    clock_offset = [0.0]
    writes = Writes(
        Catalog(settings.table), shards, DIMENSIONS, settings.shard_load_concurrency,
        clock=lambda: time.time() + clock_offset[0],
    )
    log(f"[many_small] {count:,} single-vector enrollments (budget {budget_s:.0f} s)")
    latencies = []
    started = time.perf_counter()
    done = 0
    for i in range(count):
        before = time.perf_counter()
        writes.commit_vectors(organization, MODEL, ids[i : i + 1], vectors[i : i + 1])
        latencies.append((time.perf_counter() - before) * 1000.0)
        done += 1
        if done % 1000 == 0:
            log(f"[many_small] {done:,} in {time.perf_counter() - started:.0f} s")
        if time.perf_counter() - started > budget_s:
            break
    total_s = time.perf_counter() - started
    written_ids = [int(x) for x in ids[:done]]
    written_vectors = vectors[:done]
    stored = organization_objects(organization, MANY_SMALL_BUCKET)
    full_manifest = shards.read_manifest(organization)
    manifest = full_manifest.of(MODEL)
    manifest_bytes = len(full_manifest.to_json())
    retired = sum(batch.count for batch in manifest.retired)
    after_retirement = None
    if retired:
        # Replaced shards stay readable RETIREMENT_SECONDS after their batch's window and are
        # purged by a later commit. Rather than wait, move the write module's clock past that
        # and enroll once more.
        clock_offset[0] = RETIREMENT_WINDOW_SECONDS + RETIREMENT_SECONDS + 1
        extra_id = np.asarray([ids.max() + 1], np.int64)
        extra_vector = unit_vectors(rng, 1)
        writes.commit_vectors(organization, MODEL, extra_id, extra_vector)
        written_ids.append(int(extra_id[0]))
        written_vectors = np.concatenate([written_vectors, extra_vector])
        later = shards.read_manifest(organization).of(MODEL)
        after_retirement = {
            "objects": organization_objects(organization, MANY_SMALL_BUCKET)["objects"],
            "shards": len(later.shards),
            "retired": sum(batch.count for batch in later.retired),
            "how": "one more enrollment with the write module's clock moved "
            f"{RETIREMENT_WINDOW_SECONDS + RETIREMENT_SECONDS + 1} s ahead",
        }

    fresh = VectorStore(ShardStore(MANY_SMALL_BUCKET), DIMENSIONS, settings.shard_load_concurrency)
    seen = fresh.refresh(organization, MODEL)
    everything = fresh.search(organization, MODEL, written_vectors[0], max(seen, 1), revalidate=False)
    found = [candidate.embed_id for candidate in everything]
    probes = rng.choice(len(written_ids), min(len(written_ids), 200), replace=False)
    vectors_match = all(
        fresh.search(organization, MODEL, written_vectors[p], 1, revalidate=False)[0].embed_id == written_ids[p]
        for p in probes
    )
    latencies.sort()
    result = {
        "enrollments_requested": count,
        "enrollments": done,
        "stopped_early": done < count,
        "total_s": round(total_s, 1),
        "per_enrollment_ms_median": round(statistics.median(latencies), 2),
        "per_enrollment_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
        "per_enrollment_ms_max": round(latencies[-1], 2),
        "objects": stored["objects"],
        "objects_target": MANY_SMALL_OBJECTS_TARGET,
        "shards": len(manifest.shards),
        "retired_shards_in_batches": retired,
        "retirement_batches_in_manifest": len(manifest.retired),
        "manifest_bytes": manifest_bytes,
        "after_retirement_window": after_retirement,
        "shard_sizes": sorted((s.count for s in manifest.shards), reverse=True),
        "bytes": stored["bytes"],
        "bytes_per_embedding": round(stored["bytes"] / max(done, 1), 1),
        "object_versions": stored["versions"],
        "bytes_all_versions": stored["bytes_all_versions"],
        "refresh_count": seen,
        "refresh_count_ok": seen == len(written_ids),
        "ids_written": len(written_ids),
        "ids_distinct": len(found) == len(set(found)),
        "ids_match_written": sorted(found) == sorted(written_ids),
        "vectors_match_probes": vectors_match,
        "probes": len(probes),
        "full_shard_vectors": writes_module.FULL_SHARD_VECTORS,
        "max_small_shards": writes_module.MAX_SMALL_SHARDS,
    }
    log(f"[many_small] {json.dumps(result)}")
    return result


# ---------------------------------------------------------------------------------------------


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| size | floor ms | FAISS ms | FaceMatch warm ms (ratio to floor) | original-style loop ms (FaceMatch speedup) "
        "| cold-load s (ratio to single-object download) | bytes/embedding | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        loop = f"{r['loop_ms']:,.0f}{'*' if r['loop_extrapolated'] else ''}"
        lines.append(
            f"| {r['size']:,} | {r['floor_ms']:.2f} | {r['faiss_ms']:.2f} | {r['warm_ms']:.2f} ({r['warm_ratio']:.2f}x) "
            f"| {loop} ({r['loop_speedup']:,.0f}x) | {r['cold_s']:.2f} ({r['cold_ratio']:.2f}x) "
            f"| {r['bytes_per_embedding']:.1f} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def snapshot_code() -> dict[str, Any]:
    """Copy the facematch package aside and import it from there, here and in every child:
    other people edit layers/ while this runs, and one run must measure one version."""
    import hashlib
    import shutil
    import tempfile

    source = common.ROOT / "layers" / "facematch"
    root = Path(tempfile.mkdtemp(prefix="facematch-bench-"))
    target = root / "layers" / "facematch"  # same depth: resources.py finds template.yaml
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("template.yaml", "openapi.json"):
        shutil.copy2(common.ROOT / name, root / name)
    digest = hashlib.sha256()
    for path in sorted(target.rglob("*.py")):
        digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=common.ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return ""

    return {
        "path": str(target.parent),
        "root": str(root),
        "head": git("rev-parse", "--short", "HEAD"),
        "layers_modified": git("status", "--porcelain", "--", "layers/facematch").splitlines(),
        "facematch_sha256": digest.hexdigest()[:16],
    }


def main() -> None:
    sizes = [int(s) for s in (os.environ.get("SIZES") or "10000,100000,1000000").split(",") if s.strip()]
    repeats = int(os.environ.get("REPEATS", "20"))
    cold_repeats = int(os.environ.get("COLD_REPEATS", "3"))
    many_small = int(os.environ.get("MANY_SMALL", "10000"))
    budget_s = float(os.environ.get("MANY_SMALL_BUDGET_S", "600"))
    results_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or common.RESULTS)

    code = snapshot_code()
    sys.path.insert(0, code["path"])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [code["path"], os.environ.get("PYTHONPATH")]))
    log(f"measuring facematch {code['facematch_sha256']} (HEAD {code['head']}, modified: {code['layers_modified']})")
    # FAISS's OpenMP threads would otherwise spin after each search and take the cores from
    # OpenBLAS (numpy's matrix product) in the next measurement; libgomp reads this at load.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from facematch_local.embedded_aws import start_moto_server

    server, endpoint = start_moto_server()
    env = common.child_env(FACEMATCH_AWS_ENDPOINT=endpoint, FACEMATCH_BUCKET=BUCKET, FACEMATCH_TABLE=TABLE)
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.update(env)  # before any facematch import: configuration is read once
    try:
        from facematch_local.resources import create_resources

        create_resources(BUCKET, TABLE)
        log(f"moto server at {endpoint}; sizes {sizes}")
        recorded = {k: v for k, v in code.items() if k not in ("path", "root")}
        results = [bench_size(size, env, repeats, cold_repeats) | {"code": recorded} for size in sizes]
        write_json(results_dir / "search.json", results)
        compaction = bench_many_small(many_small, budget_s) | {"code": recorded} if many_small else None
        if compaction:
            write_json(results_dir / "compaction.json", compaction)
    finally:
        server.stop()
        import shutil

        shutil.rmtree(code.pop("root"), ignore_errors=True)

    print(table(results))
    print("\n`*` extrapolated linearly from 10,000 rows.\n")
    largest = results[-1]
    label = f"{largest['size']:,}"
    for name, (target, higher) in TARGETS.items():
        sign = ">=" if higher else "<="
        print(f"{common.check(largest[name], target, higher)}  {name} = {largest[name]} at {label} (target {sign} {target})")
    print(
        f"info  loop over numpy rows instead of lists: speedup {largest['loop_numpy_rows_speedup']}x; "
        f"search with its own manifest revalidation: ratio {largest['warm_with_revalidation_ratio']} "
        f"(the revalidation alone: {largest['revalidate_only_ms']} ms, overlapped with embedding in a compare)"
    )
    if compaction:
        ok = all(compaction[key] for key in ("refresh_count_ok", "ids_distinct", "ids_match_written", "vectors_match_probes"))
        later = compaction["after_retirement_window"]
        # Retired shards are kept for readers until their retirement ends: the target is what stays.
        settled = later["objects"] if later else compaction["objects"]
        print(
            f"{common.check(settled, MANY_SMALL_OBJECTS_TARGET, False)}  many_small objects = "
            f"{settled} once retirement ended, after {compaction['enrollments']:,} enrollments in "
            f"{compaction['total_s']} s (median {compaction['per_enrollment_ms_median']} ms; "
            f"target <= {MANY_SMALL_OBJECTS_TARGET})"
            + (" - STOPPED EARLY at the time budget" if compaction["stopped_early"] else "")
        )
        if later:
            print(
                f"info  many_small: {compaction['retired_shards_in_batches']} retired shards still listed, in "
                f"{compaction['retirement_batches_in_manifest']} retirement batches named by the manifest "
                f"({compaction['manifest_bytes']:,} bytes) and {compaction['objects']} objects; after the "
                f"retirement window ({later['how']}): {later['objects']} objects"
            )
        print(f"{'PASS' if ok else 'FAIL'}  many_small refresh = {compaction['refresh_count']}, ids distinct, as written, vectors found: {ok}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        kind, *rest = arguments.child
        if kind == "cold":
            child_cold(*rest)
        elif kind == "single":
            child_single(rest[0], int(rest[1]))
        else:
            sys.exit(f"unknown child {kind}")
    else:
        main()
