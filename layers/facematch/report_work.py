"""Use case: a duplicate report's work, in its worker function (docs/duplicate-reports.md).

The report is a long job (jobs.py) on the report queue. Its steps, by the cursor's phase:
- ``plan``: plan the report over the manifest as it is now (report_planning.py), lease the
  shards the plan reads, mark it running, and send its tasks;
- ``send``: go on sending tasks where the last step stopped (a step sends until its deadline);
- ``merge``: once every task is counted, read their pairs, drop faces erased since, group them
  (complete linkage), keep the groups and end the report.
After sending, the job waits: the task whose count reaches the total wakes it for the merge.

A task (one pair of blocks) reads its two blocks from the leased shards, keeps the pairs within
the plan's cut and writes them, then counts itself done in one transaction with a marker, so a
redelivered or duplicated task counts once. Every step and task checks the report's record
first: a cancelled, ended or purged report is left alone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from aws_lambda_powertools import Logger

from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import OrganizationPurging
from facematch.jobs import Deadline, Jobs, JobStep, step_seconds
from facematch.manifest import ACTIVE, Manifest, ShardRef
from facematch.pair_blocks import CrowdTooLarge, Pairs, block_pairs, complete_linkage
from facematch.report_planning import Planner
from facematch.report_store import ReportObjects, ReportRecords, ReportTasks
from facematch.reports import (
    DONE,
    FAILED,
    KIND,
    MERGE,
    PLAN,
    QUEUED,
    RUNNING,
    SEND,
    Plan,
    ReportRecord,
    TaskMessage,
    cursor_for,
    finished,
    is_task_message,
    task_blocks,
)
from facematch.search import parallel_map
from facematch.shards import ShardMissing, ShardStore

logger = Logger()

# Tasks sent between two looks at the deadline (100 SendMessageBatch calls, 16 at a time).
_SEND_CHUNK = 1000
# A block's shards are read again from the current manifest at most this often when an erasure
# deletes them under the task.
_READ_ATTEMPTS = 3
# Edges are few by construction (chance ones are bounded by max_expected_false_matches); a bound
# so loose that a task or the report holds more than these is refused rather than grouped: the
# merge's memory and complete linkage's m x m matrix per component stay bounded.
MAX_TASK_PAIRS = 1_000_000
MAX_REPORT_PAIRS = 5_000_000
MAX_COMPONENT_FACES = 5_000
TOO_MANY_EDGES = (
    "More pairs are significant than a report groups ({found}): lower max_expected_false_matches "
    "(chance pairs are expected up to that number)."
)
# The shard cache of a worker whose memory is unknown (the local stack).
_DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024
_RESERVE_MIB = 512


class Superseded(Exception):
    """The organization was purged under the report: nothing it read is there any more."""


class BlockReader:
    """A block's ids and vectors, from the plan's leased shards (kept in a least-recently-used
    cache: a worker's next task often shares a block). An erasure deletes a leased shard that
    held an erased face at once; the block is then read from the current manifest's shards,
    which hold every face of the block still live (vectors never change, only who holds them)."""

    def __init__(self, shards: ShardStore, budget_bytes: int, concurrency: int) -> None:
        self.shards = shards
        self.budget = budget_bytes
        self.concurrency = concurrency
        self._cache: OrderedDict[tuple[str, str | None], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def block(self, plan: Plan, index: int) -> tuple[np.ndarray, np.ndarray]:
        refs = plan.shards_for(index)
        for _ in range(_READ_ATTEMPTS):
            try:
                return self._gather(plan, index, refs)
            except ShardMissing:
                refs = self._current(plan, index)
        raise ShardMissing(f"the shards of block {index} kept being replaced")

    def _gather(self, plan: Plan, index: int, refs: list[ShardRef]) -> tuple[np.ndarray, np.ndarray]:
        parts = parallel_map(lambda ref: self._shard(ref, plan.dimensions), refs, self.concurrency)
        if not parts:
            return np.empty(0, np.int64), np.empty((0, plan.dimensions), np.float32)
        ids = np.concatenate([part[0] for part in parts])
        vectors = np.concatenate([part[1] for part in parts])
        keep = plan.in_block(index, ids)
        return ids[keep], vectors[keep]

    def _current(self, plan: Plan, index: int) -> list[ShardRef]:
        manifest = self.shards.read_manifest(plan.organization)
        if manifest.generation != plan.generation or manifest.state != ACTIVE:
            raise Superseded(plan.organization)
        low, high = plan.bounds[index]
        return [ref for ref in manifest.of(plan.model).shards if ref.may_hold(range(low, high + 1))]

    def _shard(self, ref: ShardRef, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
        key = (ref.key, ref.version)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        content = self.shards.read_shard(ref, dimensions)
        self._cache[key] = content
        while len(self._cache) > 1 and sum(ids.nbytes + v.nbytes for ids, v in self._cache.values()) > self.budget:
            self._cache.popitem(last=False)
        return content


def cache_budget(settings: Settings) -> int:
    if settings.report_cache_bytes is not None:
        return settings.report_cache_bytes
    if settings.function_memory_mb:
        return max(0, settings.function_memory_mb - _RESERVE_MIB) * 1024 * 1024
    return _DEFAULT_CACHE_BYTES


class ReportWork:
    def __init__(
        self,
        settings: Settings,
        records: ReportRecords,
        objects: ReportObjects,
        tasks: ReportTasks,
        jobs: Jobs,
        shards: ShardStore,
        catalog: Catalog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.records = records
        self.objects = objects
        self.tasks = tasks
        self.jobs = jobs
        self.shards = shards
        self.catalog = catalog
        self.clock = clock
        self.planner = Planner(shards, settings.shard_load_concurrency, settings.report_block_faces)
        self.reader = BlockReader(shards, cache_budget(settings), settings.shard_load_concurrency)
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        jobs.register(KIND, self.job_step)

    def handle(self, body: str, time_left: float) -> None:
        """One report queue message: a task, or a step of a report's job; ``time_left``: the
        invocation's seconds left."""
        if is_task_message(body):
            self.run_task(body)
        else:
            settings = self.settings
            self.jobs.run(body, Deadline.after(step_seconds(settings.job_step_seconds, time_left, settings.job_margin_seconds)))

    # The job

    def job_step(self, organization: str, deadline: Deadline, cursor: dict[str, Any] | None) -> JobStep:
        """One step of a report's job (the phases above); done once the report ended."""
        if not cursor or "report_id" not in cursor:
            raise ValueError("a duplicate report's job message names its report")
        record = self.records.get(organization, cursor["report_id"], self.clock())
        if record is not None and record.state == DONE and cursor.get("phase") == MERGE:
            self._tidy(record)  # a merge that ended the report and died before tidying, delivered again
        if record is None or not record.under_way:
            return JobStep(done=True)
        try:
            if record.stalled(self.clock()):
                self._fail(record, "The report ran past its time limit: a task kept failing (see the dead-letter queue).")
                return JobStep(done=True)
            phase = cursor.get("phase", PLAN)
            if record.state == QUEUED:
                record = self._plan(record)
                if not record.under_way:
                    return JobStep(done=True, counts={"tasks": 0})
            if phase in (PLAN, SEND):
                return self._send(record, int(cursor.get("send_from", 0)), deadline)
            if record.tasks_done >= record.tasks_total:
                return self._merge(record)
            return JobStep(done=False, waiting=True)
        except (OrganizationPurging, Superseded):
            self._fail(record, "The organization was purged while the report ran.")
            return JobStep(done=True)

    def _plan(self, record: ReportRecord) -> ReportRecord:
        manifest = self._readable(record.organization)
        if manifest.generation != record.generation:
            raise Superseded(record.organization)
        # Leased before the plan reads them: a plan of millions of faces outlasts a retirement.
        self.records.lease(record, tuple(manifest.of(record.model).shards))
        plan = self.planner.plan(record, manifest)
        planned = replace(
            record, state=RUNNING, tasks_total=plan.tasks, faces=plan.faces,
            comparisons=plan.details["comparisons"], significant_distance=plan.cut if plan.cut >= 0 else None,
            manifest_version=plan.manifest_version, estimate_source=plan.details["estimate_source"],
        )
        self.objects.put_plan(plan)
        if not self.records.start(planned):  # cancelled meanwhile
            self.records.release(planned)
            return self.records.get(record.organization, record.report_id, self.clock()) or record
        logger.info("Duplicate report planned", extra={"faces": plan.faces, "blocks": plan.blocks, "tasks": plan.tasks})
        if plan.tasks == 0:  # nothing can be significant (or under two faces): done, with no group
            self._end(planned, [])
            return replace(planned, state=DONE)
        return planned

    def _send(self, record: ReportRecord, send_from: int, deadline: Deadline) -> JobStep:
        """Send tasks from ``send_from`` on, SQS batches of 10 in parallel, until the deadline."""
        total, sent = record.tasks_total, send_from
        while sent < total:
            chunk = range(sent, min(total, sent + _SEND_CHUNK))
            batches = [list(chunk[start : start + 10]) for start in range(0, len(chunk), 10)]
            parallel_map(lambda batch: self.tasks.send(record, batch), batches, self.settings.shard_load_concurrency)
            sent += len(chunk)
            if sent < total and deadline.passed():
                return JobStep(False, {"tasks_sent": sent - send_from}, cursor_for(record.report_id, SEND, sent))
        return JobStep(done=False, counts={"tasks_sent": sent - send_from}, waiting=True)

    def _merge(self, record: ReportRecord) -> JobStep:
        plan = self._plan_of(record)
        tasks = self.records.tasks_with_pairs(record)
        pairs = Pairs.concat(parallel_map(lambda task: self.objects.pairs(plan, task), tasks, self.settings.shard_load_concurrency))
        if len(pairs) > MAX_REPORT_PAIRS:
            self._fail(record, TOO_MANY_EDGES.format(found=f"{len(pairs):,} pairs"))
            return JobStep(done=True)
        manifest = self._readable(record.organization)
        if manifest.generation != record.generation:
            raise Superseded(record.organization)
        live = _live(manifest, pairs.first) & _live(manifest, pairs.second)
        try:
            groups = complete_linkage(Pairs(pairs.first[live], pairs.second[live], pairs.distance[live]), MAX_COMPONENT_FACES)
        except CrowdTooLarge as crowd:
            self._fail(record, TOO_MANY_EDGES.format(found=str(crowd)))
            return JobStep(done=True)
        members = sorted({member for group in groups for member in group.members})
        labels = self.catalog.labels(record.organization, members) if members else {}
        kept = [
            {
                "members": list(group.members),
                "pairs": [list(pair) for pair in group.pairs],
                "same_label": _same_label([labels.get(member) for member in group.members]),
            }
            for group in groups
        ]
        self._end(replace(record, tasks_done=record.tasks_total), kept)
        self._tidy(record)
        return JobStep(done=True, counts={"pairs": len(pairs), "groups": len(kept)})

    def _tidy(self, record: ReportRecord) -> None:
        """What a merged report needs no more: its tasks' pairs and markers (the groups hold the rest)."""
        self.objects.delete_pairs(record)
        self.records.delete_items(self.records.task_markers(record))

    def _end(self, record: ReportRecord, groups: list[dict[str, Any]]) -> None:
        self.objects.put_groups(record, groups)
        ended = finished(record, DONE, self.clock(), self.settings.report_retention_hours * 3600, groups=len(groups))
        if not self.records.end(ended):
            latest = self.records.get(record.organization, record.report_id, self.clock())
            if latest is None or latest.state != DONE:  # cancelled meanwhile: what it made goes too
                self.objects.delete_report(record.organization, record.generation, record.report_id)

    def _fail(self, record: ReportRecord, reason: str) -> None:
        ended = finished(record, FAILED, self.clock(), self.settings.report_retention_hours * 3600, error=reason)
        self.records.end(ended)
        logger.warning("Duplicate report failed", extra={"reason": reason})
        try:
            self.objects.delete_report(record.organization, record.generation, record.report_id)
        except Exception:  # noqa: BLE001 - the sweeper deletes what a failed report left
            logger.warning("Deleting a failed report's objects deferred", exc_info=True)

    # A task

    def run_task(self, body: str) -> None:
        """One task of a report (a report queue message): compute, write, count; wake the job if
        every task is counted."""
        message = TaskMessage.from_json(body)
        record = self.records.get(message.organization, message.report_id, self.clock())
        if record is None or record.state != RUNNING:
            logger.info("Report task dropped: the report is not running", extra={"task": message.task})
            return
        if not self.records.task_counted(record, message.task):
            plan = self._plan_of(record)
            i, j = task_blocks(message.task, plan.blocks)
            try:
                left = self.reader.block(plan, i)
                right = left if i == j else self.reader.block(plan, j)
            except Superseded:
                self._fail(record, "The organization was purged while the report ran.")
                return
            pairs = block_pairs(*left, *right, plan.cut, diagonal=i == j)
            if len(pairs) > MAX_TASK_PAIRS:
                self._fail(record, TOO_MANY_EDGES.format(found=f"{len(pairs):,} pairs in one task"))
                return
            if len(pairs):
                self.objects.put_pairs(plan, message.task, pairs)
            self.records.count_task(record, message.task, len(pairs))
        latest = self.records.get(message.organization, message.report_id, self.clock())
        if latest is not None and latest.state == RUNNING and latest.tasks_done >= latest.tasks_total:
            self.jobs.wake(KIND, record.organization, record.report_id, cursor_for(record.report_id, MERGE))

    def _plan_of(self, record: ReportRecord) -> Plan:
        plan = self._plans.get(record.report_id)
        if plan is None:
            plan = self.objects.plan(record.organization, record.generation, record.report_id)
            self._plans[record.report_id] = plan
            while len(self._plans) > 8:
                self._plans.popitem(last=False)
        return plan

    def _readable(self, organization: str) -> Manifest:
        return self.shards.read_manifest(organization).for_readers(organization, self.clock())


def _live(manifest: Manifest, ids: np.ndarray) -> np.ndarray:
    return manifest.committed.contains(ids) & ~manifest.erased.contains(ids)


def _same_label(labels: list[str | None]) -> bool:
    """Whether every member carries one and the same label (unlabelled faces share none)."""
    return None not in labels and len(set(labels)) == 1
