"""The write path under concurrent writers, a compactor, removals and readers (moto, synthetic vectors).

These run the real threads of several "processes" at once; moto's conditional writes are made
atomic, as S3's and DynamoDB's are (facematch_testing.aws). The single-threaded, exhaustive
interleavings are in test_write_protocol.py.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.errors import StoreConflict
from facematch.manifest import RETIREMENT_SECONDS
from facematch.search import VectorStore
from facematch.shards import ShardStore
from facematch.writes import MAX_SMALL_SHARDS, NewFace, Writes
from facematch_testing.aws import stored_ids

pytestmark = pytest.mark.usefixtures("aws")
DIMENSIONS = 16
MODEL = "Dlib"


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_process_writes() -> Writes:
    """What a separate Lambda process would have: its own clients' state and no shared memory."""
    return Writes(Catalog(os.environ["FACEMATCH_TABLE"]), ShardStore(os.environ["FACEMATCH_BUCKET"]), DIMENSIONS, 4)


def new_process_reader() -> VectorStore:
    """A separate process's warm copy."""
    return VectorStore(ShardStore(os.environ["FACEMATCH_BUCKET"]), DIMENSIONS, concurrency=4)


def enroll(writes: Writes, organization: str, vector: np.ndarray) -> int:
    (record,) = writes.enroll(organization, MODEL, [NewFace(vector, {}, "synthetic")], None)
    return record.embed_id


def compact_until(stop: threading.Event, organization: str, problems: list[str]) -> None:
    writes = new_process_writes()
    while not stop.is_set():
        try:
            writes.compact(organization, MODEL)
        except Exception as error:  # noqa: BLE001 - every failure is a finding
            problems.append(f"the compactor failed: {error!r}")


def all_ids(store: VectorStore, organization: str) -> list[int]:
    query = np.ones(DIMENSIONS, np.float32) / np.sqrt(DIMENSIONS)
    return [c.embed_id for c in store.search(organization, MODEL, query, 100_000)]


def test_writers_a_compactor_and_readers_together_lose_and_duplicate_nothing(organization):
    rng = np.random.default_rng(7)
    writers, per_writer = 4, 25
    vectors = unit_vectors(rng, writers * per_writer)
    stop = threading.Event()
    problems: list[str] = []
    written: dict[int, int] = {}  # embed_id -> row of `vectors`

    def write(worker: int) -> None:
        writes = new_process_writes()
        for row in range(worker * per_writer, (worker + 1) * per_writer):
            written[enroll(writes, organization, vectors[row])] = row

    def read() -> None:
        store = new_process_reader()
        while not stop.is_set():
            try:
                seen = all_ids(store, organization)
            except Exception as error:  # noqa: BLE001 - a reader must never fail
                problems.append(f"a reader failed: {error!r}")
                continue
            if len(seen) != len(set(seen)):
                problems.append(f"a reader saw duplicates: {sorted(seen)}")

    background = [threading.Thread(target=compact_until, args=(stop, organization, problems))]
    background += [threading.Thread(target=read) for _ in range(2)]
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
    assert sorted(written) == list(range(1, writers * per_writer + 1))
    store = new_process_reader()
    assert sorted(all_ids(store, organization)) == sorted(written)
    manifest = store.shards.read_manifest(organization).of(MODEL)
    assert len(manifest.shards) <= MAX_SMALL_SHARDS + 1
    ids = np.array(sorted(written))
    ordered = vectors[[written[i] for i in ids]]
    for query in unit_vectors(rng, 20):
        expected = ids[np.argsort(-(ordered @ query))[:5]].tolist()
        assert [c.embed_id for c in store.search(organization, MODEL, query, 5)] == expected


def test_a_reader_still_on_the_manifest_before_a_compaction_finds_every_shard_it_names(organization):
    writes = new_process_writes()
    vectors = unit_vectors(np.random.default_rng(9), MAX_SMALL_SHARDS)
    for vector in vectors:  # as many small shards as are kept unmerged
        enroll(writes, organization, vector)
    before = writes.shards.read_manifest(organization).of(MODEL).shards

    enroll(writes, organization, unit_vectors(np.random.default_rng(10), 1)[0])  # one more: compacts

    after = writes.shards.read_manifest(organization).of(MODEL).shards
    assert {ref.key for ref in before} - {ref.key for ref in after}, "the enrollment compacted"
    for ref in before:  # replaced, yet readable for the retirement period
        ids, _ = writes.shards.read_shard(ref, DIMENSIONS)
        assert len(ids) == ref.count


def test_removal_beside_a_compactor_removes_exactly_what_was_asked(organization):
    rng = np.random.default_rng(8)
    writer = new_process_writes()
    ids = [enroll(writer, organization, vector) for vector in unit_vectors(rng, 40)]
    reader = new_process_reader()
    assert len(all_ids(reader, organization)) == 40  # warm copy before the removal
    records = writer.catalog.get_embeddings(organization, ids[::3])

    stop = threading.Event()
    problems: list[str] = []
    compactor = threading.Thread(target=compact_until, args=(stop, organization, problems))
    compactor.start()
    writer.delete(organization, records)
    stop.set()
    compactor.join()

    assert problems == []
    remaining = sorted(set(ids) - set(ids[::3]))
    assert sorted(all_ids(reader, organization)) == remaining  # the warm copy notices
    # Removed vectors are in no version of any shard; retired copies of the others may still be.
    assert set(stored_ids(organization)) == set(remaining)


@pytest.mark.parametrize("retirement_s", [RETIREMENT_SECONDS, 0])
def test_a_cold_reader_loading_through_bursts_of_compactions_never_answers_503(organization, retirement_s, monkeypatch):
    """Every shard read of the cold reader (up to 30) lets a burst of enrollments and
    compactions through first. Retirement by time keeps every shard its manifest names readable; the control case
    (no retirement) shows the same reader exhaust its retries."""
    monkeypatch.setattr("facematch.manifest.RETIREMENT_SECONDS", retirement_s)
    if not retirement_s:
        monkeypatch.setattr("facematch.manifest.RETIREMENT_WINDOW_SECONDS", 0)
    rng = np.random.default_rng(12)
    writer = new_process_writes()
    before = [enroll(writer, organization, vector) for vector in unit_vectors(rng, 3 * MAX_SMALL_SHARDS)]
    bursts = {"left": 30, "running": False}

    def burst(params, **_):  # noqa: ANN001, ANN003 - botocore's before-call hook
        if not params["Key"].endswith(".npy") or bursts["running"] or not bursts["left"]:
            return
        bursts["running"], bursts["left"] = True, bursts["left"] - 1
        try:
            for vector in unit_vectors(rng, 2 * MAX_SMALL_SHARDS):  # two compactions or more
                enroll(writer, organization, vector)
        finally:
            bursts["running"] = False

    reader = VectorStore(ShardStore(os.environ["FACEMATCH_BUCKET"]), DIMENSIONS, concurrency=1)
    s3 = client("s3")
    s3.meta.events.register("before-parameter-build.s3.GetObject", burst, unique_id="burst")
    try:
        if retirement_s == 0:
            with pytest.raises(StoreConflict):
                all_ids(reader, organization)
            return
        found = all_ids(reader, organization)
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.GetObject", unique_id="burst")
    assert set(before) <= set(found) and len(found) == len(set(found))
    assert bursts["left"] <= 28  # bursts ran while it loaded
