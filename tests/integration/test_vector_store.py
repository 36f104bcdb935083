"""The shard store under concurrent writers, a compactor, removals and readers (moto, synthetic vectors)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from botocore.exceptions import ClientError

from facematch.search import MAX_SMALL_SHARDS, VectorStore
from facematch.shards import MAX_RETIRED, ShardStore
from facematch_testing.aws import stored_ids

pytestmark = pytest.mark.usefixtures("aws")
DIMENSIONS = 16
MODEL = "Dlib"


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_process_store() -> VectorStore:
    """What a separate Lambda process would have: its own warm copy."""
    return VectorStore(ShardStore(os.environ["FACEMATCH_BUCKET"]), DIMENSIONS, concurrency=4)


def compact_until(stop: threading.Event, organization: str) -> None:
    store = new_process_store()
    while not stop.is_set():
        try:
            store.compact(organization, MODEL)
        except ClientError as error:
            # moto's in-memory S3 is not thread-safe when listing versions that another thread
            # changes (it answers InternalError); real S3 is. Anything else fails the test.
            if error.response["Error"]["Code"] != "InternalError":
                raise


def all_ids(store: VectorStore, organization: str) -> list[int]:
    query = np.ones(DIMENSIONS, np.float32) / np.sqrt(DIMENSIONS)
    return [c.embed_id for c in store.search(organization, MODEL, query, 100_000)]


def test_writers_a_compactor_and_readers_together_lose_and_duplicate_nothing(organization):
    rng = np.random.default_rng(7)
    writers, per_writer = 4, 25
    vectors = unit_vectors(rng, writers * per_writer)
    ids = np.arange(1, writers * per_writer + 1, dtype=np.int64)
    stop = threading.Event()
    problems: list[str] = []

    def write(worker: int) -> None:
        store = new_process_store()
        for row in range(worker * per_writer, (worker + 1) * per_writer):
            shard = store.stage(organization, MODEL, ids[row : row + 1], vectors[row : row + 1])
            store.publish(organization, MODEL, shard)

    def read() -> None:
        store = new_process_store()
        while not stop.is_set():
            seen = all_ids(store, organization)
            if len(seen) != len(set(seen)):
                problems.append(f"a reader saw duplicates: {sorted(seen)}")
            if not set(seen) <= set(ids.tolist()):
                problems.append("a reader saw ids never written")

    background = [threading.Thread(target=compact_until, args=(stop, organization))] + [threading.Thread(target=read) for _ in range(2)]
    for thread in background:
        thread.start()
    writing = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in writing:
        thread.start()
    for thread in writing:
        thread.join()
    stop.set()
    for thread in background:
        thread.join()

    assert problems == []
    store = new_process_store()
    assert sorted(all_ids(store, organization)) == ids.tolist()
    manifest = store.shards.read_manifest(organization, MODEL)
    assert len(manifest.shards) <= MAX_SMALL_SHARDS + 1
    assert len(manifest.retired) <= MAX_RETIRED
    for query in unit_vectors(rng, 20):
        expected = ids[np.argsort(-(vectors @ query))[:5]].tolist()
        assert [c.embed_id for c in store.search(organization, MODEL, query, 5)] == expected


def test_removal_beside_a_compactor_removes_exactly_what_was_asked(organization):
    rng = np.random.default_rng(8)
    vectors = unit_vectors(rng, 40)
    ids = np.arange(1, 41, dtype=np.int64)
    writer = new_process_store()
    for row in range(40):
        writer.publish(organization, MODEL, writer.stage(organization, MODEL, ids[row : row + 1], vectors[row : row + 1]))
    reader = new_process_store()
    assert len(all_ids(reader, organization)) == 40  # warm copy before the removal

    stop = threading.Event()
    compactor = threading.Thread(target=compact_until, args=(stop, organization))
    compactor.start()
    removed = writer.remove(organization, MODEL, set(range(1, 41, 3)))
    stop.set()
    compactor.join()

    assert removed == set(range(1, 41, 3))
    remaining = sorted(set(ids.tolist()) - removed)
    assert sorted(all_ids(reader, organization)) == remaining  # the warm copy notices
    assert stored_ids(organization) == remaining  # removed vectors are in no version of any shard
