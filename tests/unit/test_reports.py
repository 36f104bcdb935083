"""A duplicate report's plan and task numbering (reports.py): pure data, no AWS."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facematch.manifest import IdSet, ShardRef
from facematch.reports import (
    Plan,
    ReportRecord,
    TaskMessage,
    block_bounds,
    is_task_message,
    task_blocks,
    task_count,
    tasks_in_order,
)


@given(st.integers(min_value=1, max_value=120))
def test_every_pair_of_blocks_is_exactly_one_task_numbered_row_by_row(blocks):
    numbered = [task_blocks(task, blocks) for task in range(task_count(blocks))]
    assert numbered == [(i, j) for i in range(blocks) for j in range(i, blocks)]
    assert [(task, i, j) for task, i, j in tasks_in_order(blocks)] == [(t, *pair) for t, pair in enumerate(numbered)]


@pytest.mark.parametrize("task", [-1, 3])
def test_a_task_number_beyond_the_blocks_is_refused(task):
    with pytest.raises(ValueError):
        task_blocks(task, 2)


def test_blocks_are_runs_of_consecutive_ids_the_last_one_shorter():
    ids = np.array([3, 4, 9, 10, 11, 20, 21])
    assert block_bounds(ids, 3) == ((3, 9), (10, 20), (21, 21))
    assert block_bounds(ids, 10) == ((3, 21),)
    assert block_bounds(np.array([], np.int64), 3) == ()


def plan(**changes) -> Plan:
    fields = dict(
        report_id="r" * 32, organization="acme", generation=2, model="Dlib", dimensions=128, manifest_version="abc",
        shards=(ShardRef("a", 3, "v1", None, 1, 5), ShardRef("b", 3, "v1", None, 6, 9), ShardRef("c", 2, None, None, 12, 14)),
        committed=IdSet.of([1, 2, 3, 5, 6, 7, 9, 12, 14]), bounds=((1, 6), (7, 14)), cut=0.02, faces=9,
        details={"comparisons": 36},
    )
    return Plan(**{**fields, **changes})


def test_a_blocks_shards_are_those_whose_id_range_overlaps_it():
    assert [ref.key for ref in plan().shards_for(0)] == ["a", "b"]
    assert [ref.key for ref in plan().shards_for(1)] == ["b", "c"]


def test_a_block_holds_only_ids_in_its_range_that_its_version_had_committed():
    ids = np.array([1, 4, 6, 7, 8, 13, 14, 20])  # 4, 8, 13: committed later, never by the plan's version
    assert plan().in_block(0, ids).tolist() == [True, False, True, False, False, False, False, False]
    assert plan().in_block(1, ids).tolist() == [False, False, False, True, False, False, True, False]


def test_a_plan_reads_back_what_was_written():
    assert Plan.from_json(json.loads(json.dumps(plan().to_json()))) == plan()
    assert plan().blocks == 2 and plan().tasks == 3


def test_a_task_message_reads_back_and_anything_else_is_refused():
    body = json.dumps({"report_id": "r" * 32, "organization": "acme", "task": 4})
    assert is_task_message(body) and TaskMessage.from_json(body) == TaskMessage("r" * 32, "acme", 4)
    assert not is_task_message(json.dumps({"job": "duplicate_report", "organization": "acme", "job_id": "x", "task": 1}))
    for bad in ("", "[]", '{"task": 1}', json.dumps({"report_id": "r", "organization": "a", "task": -1})):
        with pytest.raises(ValueError):
            TaskMessage.from_json(bad)


def test_a_report_under_way_past_its_deadline_is_stalled_and_an_ended_one_never_is():
    record = ReportRecord("r" * 32, "acme", 1, "running", 0.0, 100.0, 200.0, "Dlib", 128, 0.07, 0.01)
    assert not record.stalled(99.0) and record.stalled(100.0)
    assert not ReportRecord("r" * 32, "acme", 1, "done", 0.0, 100.0, 200.0, "Dlib", 128, 0.07, 0.01).stalled(150.0)
