"""The table module: its key grammar, its codec, and batches retried with backoff."""

from __future__ import annotations

import pytest

from facematch import table
from facematch.table import Table, embedding_sk, from_item, person_prefix, person_sk, to_item


def test_embedding_keys_sort_in_id_order():
    ids = [1, 2, 9, 10, 99, 100, 123456789012]
    assert sorted(embedding_sk(i) for i in ids) == [embedding_sk(i) for i in ids]


def test_one_persons_prefix_never_covers_anothers_keys():
    # Labels cannot hold "#" (inputs.EXTERNAL_ID_PATTERN): "ann" never reads "ann:2"'s faces.
    assert not person_sk("ann:2", 1).startswith(person_prefix("ann"))
    assert not person_sk("ann2", 1).startswith(person_prefix("ann"))
    assert person_sk("ann", 1).startswith(person_prefix("ann"))


def test_the_codec_keeps_floats_as_printed_and_reads_whole_numbers_back_as_ints():
    value = {"confidence": 0.1, "ids": [1, 2], "face": {"x": 3, "c": 0.25}, "missing": None}
    assert from_item(to_item(value)) == {"confidence": 0.1, "ids": [1, 2], "face": {"x": 3, "c": 0.25}}


class ThrottledDynamoDB:
    """Leaves each batch's first request unprocessed, ``throttled`` times."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.batches: list[list] = []

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's parameter name
        (requests,) = RequestItems.values()
        self.batches.append(requests)
        if self.throttled:
            self.throttled -= 1
            return {"UnprocessedItems": {"t": requests[:1]}}
        return {"UnprocessedItems": {}}


def test_unprocessed_deletions_are_retried_after_a_growing_bounded_jittered_pause(monkeypatch):
    dynamodb, pauses = ThrottledDynamoDB(throttled=8), []
    monkeypatch.setattr(table, "client", lambda name: dynamodb)
    monkeypatch.setattr(table.time, "sleep", pauses.append)
    monkeypatch.setattr(table.random, "uniform", lambda low, high: high)  # the longest pause each time
    Table("t").delete_items([{"pk": "p", "sk": str(i)} for i in range(30)])
    assert [len(batch) for batch in dynamodb.batches] == [25, *[1] * 8, 5]
    assert pauses == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0])
