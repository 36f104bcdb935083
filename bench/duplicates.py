"""Duplicate-report benchmark: an organization-wide duplicate report, fanned out over local worker
processes as Lambda fans it out over ReportFunction, against numpy's bare matrix product; and what
that projects to for 1M and 10M faces on Lambda. docs/duplicate-reports-benchmark.md explains it.

    python bench/duplicates.py        (make bench-duplicates; env SIZES, default 100000,300000;
                                       WORKERS, default 1,2; FLOOR_REPEATS, default 3)
    python bench/duplicates.py --reproject bench/results/duplicates.json   (nothing measured)

A moto server in this process stands in for S3, DynamoDB and SQS. Per size, an organization of
Dlib-like synthetic faces with PLANTED groups of copies; per worker count W, one report started as
the API starts it (its cut: the model's reference's, ``reference_cut``), run by W processes, each
ReportFunction as Lambda runs it: one BLAS thread, peak memory under 1769 MB, the SQS event source's loop
with BatchSize 1. Wrappers on each worker's objects time ``block_pairs`` (wall, and its thread's
CPU), a task's reads, DynamoDB calls (with the count's conflict retries) and pairs PUT, the plan,
the send phase (``ReportWork._send``) and the merge; a task's ``rest`` is its ``handle`` less
``block_pairs``. The FLOOR: numpy's bare float32 product of each task's blocks, in a fresh process;
``floor_ratio`` = a worker's floor / its busy time on tasks, in wall and CPU time (target >= 0.8,
checked in CPU time: the machine is shared). The projection: tasks = B(B+1)/2, B = ceil(faces /
block faces); wall = plan + max(sends, tasks x t / W) + merge; W = 10, 100, 250 (ReportWorkers'
cap: every task counts itself in a transaction on the report's one record item, 2 write units,
and DynamoDB serves one item 1,000 a second).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search  # noqa: E402  (bench/search.py: its fill, snapshot and JSON writer)

import common  # noqa: E402

BUCKET = TABLE = "facematch-bench-reports"
SEED = 20240611
MODEL = "Dlib"
DIMENSIONS = 128
SAME_PERSON = 0.07  # DeepFace's cosine threshold for Dlib: the widest an edge may be
FUNCTION_MEMORY_MB = 1769  # template.yaml, ReportFunction MemorySize: one vCPU
PLANTED = [2] * 10 + [3] * 5 + [4] * 3 + [5] * 2  # 20 groups, 37 copies
PLANTED_DISTANCE = 0.0002  # well within the cut at these sizes (0.0013 at 300k faces)
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FLOOR_TILE = 1024
# The plan step's sends (report_work.py): 1,000 tasks between looks at the deadline, as 100
# SendMessageBatch calls of 10, SEND_PARALLEL (settings.shard_load_concurrency) in flight.
SEND_CHUNK, SEND_PARALLEL = 1000, 16
MARKERS_PER_PAGE = 8000  # task markers in a 1 MB Query page (about 120 bytes each)
SQS_BATCH_S_ASSUMED = 0.020  # a SendMessageBatch round trip to real SQS in-region: assumed, not measured
PROJECTED_FACES = (1_000_000, 10_000_000)
PROJECTED_WORKERS = (10, 100, 250)  # 250: template.yaml's cap on ReportWorkers
PRICES = {  # us-east-1 list prices: Lambda x86 per GB-s and request; SQS standard per request (a batch
    # of 10 is one); S3 per GET and PUT; DynamoDB on-demand per write and read request unit
    "lambda_gb_s": 0.0000166667, "lambda_request": 0.20 / 1e6, "sqs_request": 0.40 / 1e6, "s3_get": 0.0004 / 1000,
    "s3_put": 0.005 / 1000, "dynamodb_wru": 0.625 / 1e6, "dynamodb_rru": 0.125 / 1e6,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def child_worker(number: str, stop_path: str, out_path: str) -> None:
    """One ReportFunction instance, warm, behind Lambda's SQS event source with BatchSize 1."""
    import facematch.report_work as report_work
    from facematch.aws import client
    from facematch.report_wiring import ReportWorker

    work = ReportWorker.from_settings().work
    queue = work.settings.report_queue_url
    sqs = client("sqs")
    spent: dict[str, float] = defaultdict(float)
    shapes: list[dict[str, Any]] = []

    def instrument(owner: Any, name: str, label: str, original: Any) -> None:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        setattr(owner, name, timed)  # on the instance

    original_pairs = report_work.block_pairs

    def pairs_timed(left_ids, left_vectors, right_ids, *rest, diagonal, **options):  # noqa: ANN001, ANN202
        start, cpu = time.perf_counter(), time.thread_time()  # one BLAS thread: this thread's CPU is all of it
        found = original_pairs(left_ids, left_vectors, right_ids, *rest, diagonal=diagonal, **options)
        spent["pairs"], spent["pairs_cpu"] = spent["pairs"] + time.perf_counter() - start, spent["pairs_cpu"] + time.thread_time() - cpu
        shapes.append({"left": len(left_ids), "right": len(right_ids), "diagonal": bool(diagonal), "found": len(found)})
        return found

    report_work.block_pairs = pairs_timed
    records = work.records
    for owner, name, label in (
        (work.reader, "block", "read"), (records, "get", "dynamodb"), (records, "task_counted", "dynamodb"),
        (records, "count_task", "dynamodb"), (work.objects, "put_pairs", "put_pairs"), (work.planner, "plan", "plan"),
        (work, "_send", "send"), (work, "_merge", "merge"), (records, "tasks_with_pairs", "merge_queries"),
        (records, "task_markers", "merge_queries"), (records, "delete_items", "merge_deletes"),
    ):
        instrument(owner, name, label, getattr(owner, name))
    messages: list[dict[str, Any]] = []
    errors: list[str] = []
    Path(out_path + ".ready").write_text("ready")
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            if Path(stop_path).exists():
                break
            continue
        message = got[0]
        body = json.loads(message["Body"])
        kind = "task" if "task" in body and "job" not in body else (body.get("cursor") or {}).get("phase", "job")
        error = None
        spent.clear()
        shapes.clear()
        stamp, started, cpu = time.time(), time.perf_counter(), time.process_time()
        try:
            work.handle(message["Body"], 900.0)  # ReportFunction's Timeout
        except Exception:  # noqa: BLE001 - the message comes back, as from Lambda; the run is flagged
            error = traceback.format_exc()
            errors.append(error)
            log(f"worker {number}: {kind} failed:\n{error}")
        entry = {"kind": kind, "start": stamp, "handle_s": time.perf_counter() - started,
                 "handle_cpu_s": time.process_time() - cpu, "parts": dict(spent)}
        entry["end"] = stamp + entry["handle_s"]
        if error:
            sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if kind == "task" and shapes:  # not when the task was dropped or counted already
            left, right, diagonal = shapes[0]["left"], shapes[0]["right"], shapes[0]["diagonal"]
            entry |= shapes[0] | {"task": body["task"], "comparisons": left * (left - 1) // 2 if diagonal else left * right}
        messages.append(entry)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    search.write_json(Path(out_path), {"worker": int(number), "messages": messages, "errors": errors, "peak_rss_mb": peak_mb})


def child_floor(shapes_path: str, out_path: str, repeats: str) -> None:
    """The bare float32 products of each task shape, in this process alone: wall and CPU time."""
    from facematch_testing.face_vectors import dlib_like

    rng = np.random.default_rng(SEED)
    scratch = np.ones((FLOOR_TILE, FLOOR_TILE), np.float32)  # touched: no page faults in the timing

    def tiled(left: np.ndarray, right: np.ndarray, diagonal: bool) -> None:
        for top in range(0, len(left), FLOOR_TILE):
            bottom = min(top + FLOOR_TILE, len(left))
            for start in range(top if diagonal else 0, len(right), FLOOR_TILE):
                stop = min(start + FLOOR_TILE, len(right))
                np.matmul(left[top:bottom], right[start:stop].T, out=scratch[: bottom - top, : stop - start])

    def timed(function: Any, *args: Any) -> tuple[float, float]:
        """Median wall and CPU time of ``repeats`` runs, after one unmeasured (caches, the output's pages)."""
        samples = []
        for _ in range(int(repeats) + 1):
            start, cpu = time.perf_counter(), time.thread_time()
            function(*args)
            samples.append((time.perf_counter() - start, time.thread_time() - cpu))
        return statistics.median(w for w, _ in samples[1:]), statistics.median(c for _, c in samples[1:])

    found = []
    for left_rows, right_rows, diagonal in json.loads(Path(shapes_path).read_text()):
        left = dlib_like(left_rows, rng)
        right = left if diagonal else dlib_like(right_rows, rng)
        ways = [timed(tiled, left, right, diagonal)]
        if not diagonal:  # on a diagonal one call computes twice the pairs needed
            output = np.ones((left_rows, right_rows), np.float32)
            ways.append(timed(lambda: np.matmul(left, right.T, out=output)))
            del output
        found.append({"left": left_rows, "right": right_rows, "diagonal": diagonal,
                      "floor_s": min(w for w, _ in ways), "floor_cpu_s": min(c for _, c in ways)})
    search.write_json(Path(out_path), {"shapes": found})


def spawn(env: dict[str, str], logs: Path, name: str, *args: str) -> subprocess.Popen:
    handle = (logs / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", *args],
                            env=env, cwd=common.ROOT, stdout=handle, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, logs: Path, name: str, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"child {name} failed ({process.returncode}):\n{(logs / f'{name}.log').read_text()[-4000:]}")


def planted_faces(size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[list[int]]]:
    """``size`` Dlib-like faces with PLANTED groups of copies among them, shuffled: the vectors,
    and each group as row numbers."""
    from facematch_testing.face_vectors import dlib_like, planted_copies

    copies = sum(group - 1 for group in PLANTED)
    base = dlib_like(size - copies, rng)
    rows, groups, next_row = [base], [], size - copies
    for number, group in enumerate(PLANTED):
        original = np.repeat(base[number : number + 1], group - 1, axis=0)
        rows.append(original.copy() if number % 2 == 0 else planted_copies(original, rng, PLANTED_DISTANCE))
        groups.append([number, *range(next_row, next_row + group - 1)])
        next_row += group - 1
    order = rng.permutation(size)
    where = np.argsort(order)
    return np.concatenate(rows)[order], [sorted(int(where[row]) for row in group) for group in groups]


def run_report(size: int, organization: str, workers: int, env: dict[str, str], logs: Path, reports: Any,
               timeout_s: float) -> dict[str, Any]:
    """One report with ``workers`` worker processes: every worker's messages."""
    from facematch.audit import Actor

    run_dir = Path(tempfile.mkdtemp(prefix=f"{size}-{workers}-", dir=logs))
    stop = run_dir / "stop"
    children = []
    for number in range(workers):
        out, name = run_dir / f"worker-{number}.json", f"{run_dir.name}/worker-{number}"
        children.append((spawn(env, logs, name, "worker", str(number), str(stop), str(out)), name, out))
    deadline = time.monotonic() + 300
    while not all(Path(str(out) + ".ready").exists() for _, _, out in children):
        if time.monotonic() > deadline or any(process.poll() is not None for process, _, _ in children):
            raise RuntimeError(f"the workers did not start: logs in {logs}")
        time.sleep(0.1)
    load_before, moto_cpu = os.getloadavg()[0], time.process_time()
    started = time.time()
    accepted = reports.start(organization, None, Actor("benchmark"))
    deadline = time.monotonic() + timeout_s
    while (record := reports.records.get(organization, accepted.report_id, time.time())) is None or record.under_way:
        failure = next((name for process, name, _ in children if process.poll() is not None), None)
        if failure or time.monotonic() > deadline:  # a worker died, or the report hangs
            for process, _, _ in children:
                process.kill()
            raise RuntimeError(f"[{size:,}] {workers} worker(s): {failure or 'timeout'}: logs in {logs}")
        time.sleep(0.25)
    moto_cpu, load_after = time.process_time() - moto_cpu, os.getloadavg()[0]
    stop.write_text("stop")
    outputs = []
    for process, name, out in children:
        finish(process, logs, name, 600)
        outputs.append(json.loads(out.read_text()))
    return {"report_id": accepted.report_id, "record": record, "started": started, "moto_cpu_s": moto_cpu,
            "load_average": [round(load_before, 2), round(load_after, 2)], "workers": outputs}


def summarize(run: dict[str, Any], planted: list[list[int]], groups: list[dict[str, Any]], reference_cut: float,
              floor: dict[tuple[int, int, bool], dict[str, float]]) -> dict[str, Any]:
    """One report's figures; each worker's against the floor of its tasks' shapes."""
    record = run["record"]
    messages = [dict(m, worker=w["worker"]) for w in run["workers"] for m in w["messages"]]
    tasks = sorted((m for m in messages if m["kind"] == "task" and "comparisons" in m), key=lambda m: m["start"])
    steps = [m for m in messages if m["kind"] != "task"]
    found = {tuple(group["members"]) for group in groups}
    planted_members = {member for group in planted for member in group}

    def total(items: list[dict[str, Any]], key: str) -> float:
        return sum(m["parts"].get(key, 0.0) for m in items)

    result = {
        "workers": len(run["workers"]), "report_id": run["report_id"], "state": record.state, "faces": record.faces,
        "comparisons": record.comparisons, "cut": record.significant_distance, "reference_cut": reference_cut,
        "estimate_source": record.estimate_source, "tasks_total": record.tasks_total, "tasks_run": len(tasks),
        "errors": sum(len(w["errors"]) for w in run["workers"]), "load_average": run["load_average"],
        "wall_s": max(m["end"] for m in messages) - run["started"],  # start to the merge's end (its clean-up included)
        "cpu_s": sum(m["handle_cpu_s"] for m in messages),  # the workers' processes, in handle()
        "moto_cpu_s": run["moto_cpu_s"],  # this process: the moto server (and the poll)
        "plan_s": total(steps, "plan"), "send_s": total(steps, "send"),  # send: the phase's wall time
        "task_phase_s": (max(m["end"] for m in tasks) - tasks[0]["start"]) if tasks else 0.0,
        "merge_s": total(steps, "merge"), "merge_queries_s": total(steps, "merge_queries"),
        "merge_deletes_s": total(steps, "merge_deletes"),
        "groups_found": len(groups), "pairs_found": sum(m["found"] for m in tasks), "planted_groups": len(planted),
        "planted_found_whole": sum(tuple(group) in found for group in planted),
        "other_groups": sum(not (set(group["members"]) & planted_members) for group in groups),
        "tasks": [{k: m[k] for k in ("worker", "task", "left", "right", "diagonal", "comparisons", "found", "handle_s",
                                     "handle_cpu_s", "parts")} for m in tasks],
        "per_worker": [],
    }
    for worker in run["workers"]:
        mine = [t for t in tasks if t["worker"] == worker["worker"]]
        floors = [floor[(t["left"], t["right"], t["diagonal"])] for t in mine]
        busy, pairs = sum(t["handle_s"] for t in mine), total(mine, "pairs")
        figures = {
            "worker": worker["worker"], "peak_rss_mb": worker["peak_rss_mb"], "tasks": len(mine), "comparisons": sum(t["comparisons"] for t in mine),
            "busy_s": busy, "busy_cpu_s": sum(t["handle_cpu_s"] for t in mine), "block_pairs_s": pairs,
            "block_pairs_cpu_s": total(mine, "pairs_cpu"), "rest_s": busy - pairs,
            "rest_parts_s": {key: total(mine, key) for key in ("read", "dynamodb", "put_pairs")},
            "floor_s": sum(f["floor_s"] for f in floors), "floor_cpu_s": sum(f["floor_cpu_s"] for f in floors),
        }
        for name, numerator, denominator in (("floor_ratio", "floor_s", "busy_s"), ("floor_ratio_cpu", "floor_cpu_s", "busy_cpu_s"),
                                             ("cpu_share", "busy_cpu_s", "busy_s"), ("pairs_per_s", "comparisons", "busy_s"),
                                             ("pairs_per_cpu_s", "comparisons", "busy_cpu_s")):
            figures[name] = ratio(figures[numerator], figures[denominator])
        result["per_worker"].append(figures)
    result["pairs_per_s_per_worker"] = ratio(record.comparisons, result["task_phase_s"] * result["workers"])
    return result


def bench_size(size: int, worker_counts: list[int], env: dict[str, str], logs: Path, app: Any, floor_repeats: int,
               timeout_s: float) -> dict[str, Any]:
    from facematch import significance
    from facematch.pair_blocks import edge_cut

    organization, settings = f"report-{size}", app.settings
    vectors, planted_rows = planted_faces(size, np.random.default_rng(SEED + size))
    ids = np.asarray(app.catalog.allocate_ids(organization, size), np.int64)
    planted = [sorted(int(ids[row]) for row in group) for group in planted_rows]
    fill_s = search.fill(app.writes, organization, ids, vectors)
    del vectors, ids
    stored = search.organization_objects(organization, BUCKET)
    reference_cut = edge_cut(significance.fallback(MODEL), size * (size - 1) // 2, settings.max_expected_false_matches, SAME_PERSON)
    log(f"[{size:,}] filled in {fill_s:.1f} s: {stored['objects']} objects; reference cut {reference_cut}")
    raws = [run_report(size, organization, workers, env, logs, app.reports, timeout_s) for workers in worker_counts]
    shapes = sorted({(m["left"], m["right"], m["diagonal"]) for raw in raws for w in raw["workers"] for m in w["messages"]
                     if "comparisons" in m}, reverse=True)
    log(f"[{size:,}] floor: {len(shapes)} task shapes")
    (logs / "shapes.json").write_text(json.dumps(shapes))
    name, out = f"floor-{size}", logs / f"floor-{size}.json"
    finish(spawn(env, logs, name, "floor", str(logs / "shapes.json"), str(out), str(floor_repeats)), logs, name, 1800)
    floor = json.loads(out.read_text())
    by_shape = {(e["left"], e["right"], e["diagonal"]): e for e in floor["shapes"]}
    runs = []
    for raw in raws:
        groups = app.reports.objects.groups(raw["record"]) if raw["record"].state == "done" else []
        runs.append(run := summarize(raw, planted, groups, reference_cut, by_shape))
        log(f"[{size:,}] {run['workers']} worker(s): {run['state']}, wall {run['wall_s']:.1f} s (plan {run['plan_s']:.1f} s, send "
            f"{run['send_s']:.2f} s, tasks {run['task_phase_s']:.1f} s, merge {run['merge_s']:.2f} s), {run['tasks_run']} tasks, "
            f"cut {run['cut']}, {run['groups_found']} groups ({run['planted_found_whole']}/{len(PLANTED)} planted)")
    return {"size": size, "organization": organization, "objects": stored["objects"], "object_bytes": stored["bytes"],
            "fill_s": round(fill_s, 2), "reference_cut": reference_cut, "planted_groups": planted, "runs": runs, "floor": floor}


def projection(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Time and cost of a report of PROJECTED_FACES with PROJECTED_WORKERS Lambda workers, from
    the largest size's 1-worker run (None without one that ran tasks)."""
    from facematch import significance
    from facematch.pair_blocks import edge_cut
    from facematch.writes import FULL_SHARD_VECTORS

    found = [(r["size"], run) for r in payload["sizes"] for run in r["runs"] if run["workers"] == 1 and run["tasks"]]
    if not found:
        return None
    (size, run), tasks = found[-1], found[-1][1]["tasks"]
    block_faces, bound = payload["settings"]["report_block_faces"], payload["settings"]["max_expected_false_matches"]
    x = np.array([t["comparisons"] for t in tasks], float)
    y = np.array([t["parts"].get("pairs_cpu", 0.0) for t in tasks], float)
    slope, intercept = np.polyfit(x, y, 1) if len(set(x.tolist())) >= 2 else (y.sum() / x.sum(), 0.0)
    if intercept < 0:  # noise: no fixed part then
        slope, intercept = y.sum() / x.sum(), 0.0
    rest = statistics.mean(t["handle_s"] - t["parts"].get("pairs", 0.0) for t in tasks)
    full_task = intercept + slope * block_faces * block_faces + rest
    full_diagonal = intercept + slope * block_faces * (block_faces - 1) / 2 + rest
    plan_per_face, send_per_task = run["plan_s"] / size, run["send_s"] / run["tasks_total"]
    # The merge: its two queries of the task markers (pages of 1 MB) and their deletion (25 a
    # BatchWriteItem) grow with the tasks; the rest (pairs, grouping, labels, groups) is kept as measured.
    query_page_s = run["merge_queries_s"] / (2 * math.ceil(run["tasks_total"] / MARKERS_PER_PAGE))
    batch_write_s = run["merge_deletes_s"] / math.ceil(run["tasks_total"] / 25)
    merge_fixed = max(0.0, run["merge_s"] - run["merge_queries_s"] - run["merge_deletes_s"])
    gb, rows = FUNCTION_MEMORY_MB / 1024, []
    for faces in PROJECTED_FACES:
        blocks = math.ceil(faces / block_faces)
        count = blocks * (blocks + 1) // 2
        task_s = (count - blocks) * full_task + blocks * full_diagonal
        plan_s, send_s = plan_per_face * faces, send_per_task * count
        merge_s = merge_fixed + 2 * math.ceil(count / MARKERS_PER_PAGE) * query_page_s + math.ceil(count / 25) * batch_write_s
        # real SQS: rounds of SEND_PARALLEL SendMessageBatch calls in flight, per SEND_CHUNK tasks
        send_assumed_s = SQS_BATCH_S_ASSUMED * sum(math.ceil(math.ceil(min(SEND_CHUNK, count - start) / 10) / SEND_PARALLEL)
                                                   for start in range(0, count, SEND_CHUNK))
        lambda_s = plan_s + send_s + task_s + merge_s
        for workers in PROJECTED_WORKERS:
            cost = {  # per request: every task an invocation, plus the plan, the merge and a wake-up
                "lambda": lambda_s * gb * PRICES["lambda_gb_s"] + (count + 3) * PRICES["lambda_request"],
                # batched sends; a receive and a delete per task
                "sqs": (math.ceil(count / 10) + 2 * count + 6) * PRICES["sqs_request"],
                # GETs: the plan's ranged GETs of ids, each task's two shards at worst, each worker's plan;
                # PUTs: the plan, the groups, every task's pairs at worst
                "s3": (math.ceil(faces / FULL_SHARD_VECTORS) + 2 * count + workers) * PRICES["s3_get"] + (2 + count) * PRICES["s3_put"],
                # per task: the record twice and the marker read; the count's transaction (2 items, 2 units
                # each) and the marker's deletion; no conflict retried
                "dynamodb": (3 * count + count // 10) * PRICES["dynamodb_rru"] + 5 * count * PRICES["dynamodb_wru"],
            }
            rows.append({
                "faces": faces, "workers": workers, "blocks": blocks, "tasks": count, "task_s_total": task_s, "plan_s": plan_s,
                "send_s": send_s, "send_assumed_s": send_assumed_s, "merge_s": merge_s,
                "wall_s": plan_s + max(send_s, task_s / workers) + merge_s,
                "wall_assumed_sends_s": plan_s + max(send_assumed_s, task_s / workers) + merge_s,
                "lambda_s": lambda_s, "gb_s": lambda_s * gb, "cost_usd": cost, "total_usd": sum(cost.values()),
                # every count is a transaction on the report's one record item: 2 write units each
                "record_item_wcu_per_s": 2 * count / max(send_assumed_s, task_s / workers),
            })
    reference = significance.fallback(MODEL)
    return {
        "from_size": size, "samples": len(tasks), "block_pairs_fit": {"intercept_s": float(intercept), "cpu_s_per_comparison": float(slope)},
        "task_rest_s": rest, "full_task_s": full_task, "full_diagonal_task_s": full_diagonal,
        "plan_s_per_million_faces": plan_per_face * 1e6, "send_s_per_task": send_per_task,
        "sqs_batch_s_assumed": SQS_BATCH_S_ASSUMED, "send_chunk": SEND_CHUNK, "send_parallel": SEND_PARALLEL,
        "merge_fixed_s": merge_fixed, "merge_query_page_s": query_page_s, "merge_batch_write_s": batch_write_s,
        "block_faces": block_faces, "gb": gb, "prices": PRICES,
        # The reference's cut per size and max_expected_false_matches: -1, nothing significant, no task.
        "reference_cut": {str(faces): {str(e): edge_cut(reference, faces * (faces - 1) // 2, e, SAME_PERSON)
                                       for e in sorted({bound, 1.0, 100.0})} for faces in PROJECTED_FACES},
        "rows": rows,
    }


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def tables(results: list[dict[str, Any]], projected: dict[str, Any] | None) -> str:
    lines = [
        "| faces | workers | tasks | cut (reference) | groups (planted found whole) | wall s | workers' CPU s | moto CPU s "
        "| plan s | send s | task phase s | merge s | M pairs/s/worker | load avg |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['size']:,} | {run['workers']} | {run['tasks_run']} | {run['cut']} ({run['reference_cut']}) "
        f"| {run['groups_found']} ({run['planted_found_whole']}/{run['planted_groups']}) | {run['wall_s']:.1f} | {run['cpu_s']:.1f} "
        f"| {run['moto_cpu_s']:.1f} | {run['plan_s']:.2f} | {run['send_s']:.2f} | {run['task_phase_s']:.1f} | {run['merge_s']:.2f} "
        f"| {(run.get('pairs_per_s_per_worker') or 0) / 1e6:.0f} | {run['load_average'][0]} -> {run['load_average'][1]} |"
        for r in results for run in r["runs"]
    ]
    lines += [
        "",
        "| faces | workers | worker | tasks | busy s (CPU s) | share of a core | block_pairs ms/task (CPU) | rest ms/task "
        "(read, DynamoDB, S3 PUT) | floor ms/task (CPU) | floor ratio: wall, CPU | M pairs/s (per CPU s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for r in results:
        for run in r["runs"]:
            for w in (w for w in run["per_worker"] if w["tasks"]):
                n, parts = w["tasks"] / 1000.0, w["rest_parts_s"]
                lines.append(
                    f"| {r['size']:,} | {run['workers']} | {w['worker']} | {w['tasks']} | {w['busy_s']:.1f} ({w['busy_cpu_s']:.1f}) "
                    f"| {100 * w['cpu_share']:.0f} % | {w['block_pairs_s'] / n:,.0f} ({w['block_pairs_cpu_s'] / n:,.0f}) "
                    f"| {w['rest_s'] / n:.0f} ({parts['read'] / n:.0f}, {parts['dynamodb'] / n:.0f}, {parts['put_pairs'] / n:.0f}) "
                    f"| {w['floor_s'] / n:,.0f} ({w['floor_cpu_s'] / n:,.0f}) | {w['floor_ratio']:.2f}, {w['floor_ratio_cpu']:.2f} "
                    f"| {w['pairs_per_s'] / 1e6:.0f} ({w['pairs_per_cpu_s'] / 1e6:.0f}) |"
                )
    if projected:
        p = projected
        lines += [
            "",
            f"From the {p['from_size']:,}-face 1-worker run: a full task {p['full_task_s']:.3f} s, a full diagonal one "
            f"{p['full_diagonal_task_s']:.3f} s (of it {p['task_rest_s']:.3f} s rest); the rest in the JSON's projection.",
            "",
            "| faces | workers | tasks | plan s | sends s (moto; real, assumed) | tasks s / workers | merge s "
            "| wall (moto's sends; real sends) | Lambda GB-s | cost USD (Lambda / SQS / S3 / DynamoDB) | record item WCU/s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for row in p["rows"]:
            c = row["cost_usd"]
            lines.append(
                f"| {row['faces']:,} | {row['workers']:,} | {row['tasks']:,} | {row['plan_s']:.1f} | {row['send_s']:,.1f}; "
                f"{row['send_assumed_s']:,.1f} | {row['task_s_total'] / row['workers']:,.0f} | {row['merge_s']:.1f} "
                f"| {duration(row['wall_s'])}; {duration(row['wall_assumed_sends_s'])} | {row['gb_s']:,.0f} "
                f"| {row['total_usd']:.2f} ({c['lambda']:.2f} / {c['sqs']:.3f} / {c['s3']:.3f} / {c['dynamodb']:.3f}) "
                f"| {row['record_item_wcu_per_s']:,.0f} |"
            )
    return "\n".join(lines)


def show(payload: dict[str, Any], path: Path) -> None:
    print("## A duplicate report of a whole organization, on local worker processes\n")
    print(tables(payload["sizes"], payload["projection"]))
    failed = []
    for r in payload["sizes"]:
        for run in r["runs"]:
            peak = max(w["peak_rss_mb"] for w in run["per_worker"])
            ok = (run["state"] == "done" and run["planted_found_whole"] == run["planted_groups"] and not run["errors"]
                  and peak <= FUNCTION_MEMORY_MB)
            failed += [] if ok else [(r["size"], run["workers"])]
            print(f"{'PASS' if ok else 'FAIL'}  {r['size']:,} faces, {run['workers']} worker(s): {run['state']}, "
                  f"{run['planted_found_whole']}/{run['planted_groups']} planted groups found whole, {run['other_groups']} other, "
                  f"{run['errors']} error(s); cut {run['cut']}, reference {run['reference_cut']}; peak RSS {peak:.0f} MB "
                  f"(Lambda's limit {FUNCTION_MEMORY_MB} MB)")
            for w in (w for w in run["per_worker"] if w["tasks"]):
                print(f"{common.check(w['floor_ratio_cpu'], 0.8, True)}  floor ratio {w['floor_ratio_cpu']:.2f} in CPU time "
                      f"(target >= 0.8), {w['floor_ratio']:.2f} in wall time ({r['size']:,} faces, {run['workers']} worker(s), "
                      f"worker {w['worker']}: {w['tasks']} tasks)")
    print(f"\nLoad average (1 min) {payload['load_average'][0]} before, {payload['load_average'][1]} after. Wrote {path}.")
    if failed:
        sys.exit(f"reports that failed, missed a planted group or passed Lambda's memory: {failed}")


def main() -> None:
    sizes = [int(s) for s in (os.environ.get("SIZES") or "100000,300000").split(",") if s.strip()]
    worker_counts = [int(s) for s in (os.environ.get("WORKERS") or "1,2").split(",") if s.strip()]
    floor_repeats = int(os.environ.get("FLOOR_REPEATS", "3"))
    timeout_s = float(os.environ.get("REPORT_TIMEOUT_S", "3600"))
    results_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or common.RESULTS)
    code = search.snapshot_code()
    sys.path.insert(0, code["path"])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [code["path"], os.environ.get("PYTHONPATH")]))
    log(f"measuring facematch {code['facematch_sha256']} (HEAD {code['head']}, modified: {code['layers_modified']})")
    from facematch_local.embedded_aws import start_moto_server

    server, endpoint = start_moto_server()
    env = common.child_env(FACEMATCH_AWS_ENDPOINT=endpoint, FACEMATCH_BUCKET=BUCKET, FACEMATCH_TABLE=TABLE)
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.update(env)  # before any facematch import: configuration is read once
    logs = Path(tempfile.mkdtemp(prefix="facematch-bench-reports-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    try:
        from facematch.catalog import Catalog
        from facematch.config import Settings
        from facematch.shards import ShardStore
        from facematch.wiring import FaceMatch
        from facematch.writes import FULL_SHARD_VECTORS
        from facematch_local.resources import create_resources

        queues = create_resources(BUCKET, TABLE)
        settings = Settings(report_queue_url=queues["ReportQueue"])
        worker_env = env | THREADS | {"FACEMATCH_REPORT_QUEUE_URL": queues["ReportQueue"],
                                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(FUNCTION_MEMORY_MB)}
        model = SimpleNamespace(dimensions=DIMENSIONS, default_threshold=SAME_PERSON)  # the API's, with no model loaded
        app = FaceMatch(settings, model, Catalog(settings.table), ShardStore(settings.bucket))
        log(f"moto server at {endpoint}; sizes {sizes}, workers {worker_counts}; child logs in {logs}")
        results = [bench_size(size, worker_counts, worker_env, logs, app, floor_repeats, timeout_s) for size in sizes]
    finally:
        server.stop()
        shutil.rmtree(code.pop("root"), ignore_errors=True)
    payload = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}",
        "aws": "moto server in the benchmark's process (localhost HTTP), sharing the CPU with the workers",
        "planted": {"sizes": PLANTED, "distance": PLANTED_DISTANCE, "exact": "even-numbered groups"},
        "settings": {"report_block_faces": settings.report_block_faces, "full_shard_vectors": FULL_SHARD_VECTORS,
                     "max_expected_false_matches": settings.max_expected_false_matches, "function_memory_mb": FUNCTION_MEMORY_MB,
                     "threads": THREADS, "floor_repeats": floor_repeats},
        "total_s": round(time.perf_counter() - started, 1),
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # 1 minute, before and after
        "code": {k: v for k, v in code.items() if k != "path"},
        "sizes": results,
    }
    payload["projection"] = projection(payload)
    search.write_json(results_dir / "duplicates.json", payload)
    shutil.rmtree(logs, ignore_errors=True)
    show(payload, results_dir / "duplicates.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--reproject", type=Path, help="recompute the projection of a results file, and print its tables")
    arguments = parser.parse_args()
    if arguments.reproject:
        payload = json.loads(arguments.reproject.read_text())
        payload["projection"] = projection(payload)
        search.write_json(arguments.reproject, payload)
        show(payload, arguments.reproject)
    elif arguments.child:
        kind, *rest = arguments.child
        {"worker": child_worker, "floor": child_floor}[kind](*rest)
    else:
        main()
