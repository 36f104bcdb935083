"""Duplicate reports, as data: a report's record, its plan, and how its tasks are numbered.

A report finds the groups of faces in one organization that are the same person. Its plan cuts
the organization's faces, as one manifest version held them, into blocks of consecutive
embed_ids; every pair of blocks (i <= j) is one task: a matrix product and the significance cut
(pair_blocks.py). Pure data: report_store.py keeps it, duplicate_reports.py runs it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facematch.manifest import IdSet, ShardRef

KIND = "duplicate_report"
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
UNDER_WAY = (QUEUED, RUNNING)
# The phases of a report's job steps (report_work.py), in the cursor its messages carry.
PLAN, SEND, MERGE = "plan", "send", "merge"


def cursor_for(report_id: str, phase: str, send_from: int = 0) -> dict[str, Any]:
    return {"report_id": report_id, "phase": phase, **({"send_from": send_from} if phase == SEND else {})}


@dataclass(frozen=True)
class ReportRecord:
    """A report's status. Times are seconds since the epoch: ``deadline``, the most it may run;
    ``expires_at``, when the record and everything it made are forgotten."""

    report_id: str
    organization: str
    generation: int
    state: str
    submitted_at: float
    deadline: float
    expires_at: float
    model: str
    dimensions: int
    same_person: float
    max_expected_false_matches: float
    tasks_total: int = 0
    tasks_done: int = 0
    faces: int | None = None
    comparisons: int | None = None
    significant_distance: float | None = None
    manifest_version: str | None = None
    estimate_source: str | None = None
    groups: int | None = None
    finished_at: float | None = None
    error: str | None = None

    @property
    def under_way(self) -> bool:
        return self.state in UNDER_WAY

    def stalled(self, now: float) -> bool:
        """Under way past the most a report may run: a task that kept failing (it waits in the
        dead-letter queue) or a lost wake-up. It is shown as failed, and no longer blocks another."""
        return self.under_way and now >= self.deadline


@dataclass(frozen=True)
class Plan:
    """What a report's tasks read: the leased shards of one manifest version, the ids it had
    committed (a face committed later, even with a lower id, is not in the report), the blocks'
    id ranges, and the cut: the largest distance that is a significant match at this size."""

    report_id: str
    organization: str
    generation: int
    model: str
    dimensions: int
    manifest_version: str
    shards: tuple[ShardRef, ...]
    committed: IdSet
    bounds: tuple[tuple[int, int], ...]
    cut: float
    faces: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> int:
        return len(self.bounds)

    @property
    def tasks(self) -> int:
        return task_count(self.blocks)

    def shards_for(self, block: int) -> list[ShardRef]:
        """The leased shards that may hold the block's ids (their id ranges overlap it)."""
        low, high = self.bounds[block]
        return [ref for ref in self.shards if ref.min_id is None or (ref.min_id <= high and ref.max_id >= low)]

    def in_block(self, block: int, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` belong to the block: in its range and committed in the plan's version."""
        low, high = self.bounds[block]
        return (ids >= low) & (ids <= high) & self.committed.contains(ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "organization": self.organization,
            "generation": self.generation,
            "model": self.model,
            "dimensions": self.dimensions,
            "manifest_version": self.manifest_version,
            "shards": [ref.to_dict() for ref in self.shards],
            "committed": self.committed.to_json(),
            "bounds": [list(bound) for bound in self.bounds],
            "cut": self.cut,
            "faces": self.faces,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            report_id=data["report_id"],
            organization=data["organization"],
            generation=int(data["generation"]),
            model=data["model"],
            dimensions=int(data["dimensions"]),
            manifest_version=data["manifest_version"],
            shards=tuple(ShardRef(**ref) for ref in data["shards"]),
            committed=IdSet.from_json(data["committed"]),
            bounds=tuple((int(low), int(high)) for low, high in data["bounds"]),
            cut=float(data["cut"]),
            faces=int(data["faces"]),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True)
class TaskMessage:
    """One task of a report, as the report queue carries it (report_store.ReportTasks)."""

    report_id: str
    organization: str
    task: int

    @classmethod
    def from_json(cls, body: str) -> TaskMessage:
        """The task a body names; ValueError if it names none (the queue retries it, then keeps it
        in the dead-letter queue for inspection)."""
        try:
            data: Any = json.loads(body)
            message = cls(str(data["report_id"]), str(data["organization"]), int(data["task"]))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError("not a report task") from error
        if message.task < 0:
            raise ValueError("not a report task")
        return message


def is_task_message(body: str) -> bool:
    """Whether a report queue message is a task (the others are the report's job steps)."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and "task" in data and "job" not in data


def block_bounds(sorted_ids: np.ndarray, block_faces: int) -> tuple[tuple[int, int], ...]:
    """Consecutive runs of ``block_faces`` ids (the last one shorter), as (first, last) ranges."""
    return tuple(
        (int(sorted_ids[start]), int(sorted_ids[min(start + block_faces, len(sorted_ids)) - 1]))
        for start in range(0, len(sorted_ids), block_faces)
    )


def task_count(blocks: int) -> int:
    return blocks * (blocks + 1) // 2


def task_blocks(task: int, blocks: int) -> tuple[int, int]:
    """The pair of blocks (i <= j) of task number ``task``: row by row, so that a worker given
    consecutive tasks reads block i once."""
    if not 0 <= task < task_count(blocks):
        raise ValueError(f"no task {task} among {blocks} blocks")
    # Tasks before row i: i * blocks - i * (i - 1) / 2; solve for the largest i with that <= task.
    i = int((2 * blocks + 1 - math.sqrt((2 * blocks + 1) ** 2 - 8 * task)) // 2)
    while i > 0 and i * blocks - i * (i - 1) // 2 > task:
        i -= 1
    while (i + 1) * blocks - (i + 1) * i // 2 <= task:
        i += 1
    return i, i + task - (i * blocks - i * (i - 1) // 2)


def tasks_in_order(blocks: int) -> Iterator[tuple[int, int, int]]:
    """(task, i, j) for every task, in task order."""
    task = 0
    for i in range(blocks):
        for j in range(i, blocks):
            yield task, i, j
            task += 1


def finished(record: ReportRecord, state: str, now: float, retention_seconds: float, **fields: Any) -> ReportRecord:
    """The record as it ends: ``state`` since ``now``, kept ``retention_seconds`` from then."""
    return replace(record, state=state, finished_at=now, expires_at=now + retention_seconds, **fields)
