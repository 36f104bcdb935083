"""Exact top-k by cosine similarity of unit vectors, the in-memory index, and the compaction policy."""

from __future__ import annotations

import numpy as np
import pytest

from facematch.faces import normalize
from facematch.manifest import ModelShards, ShardRef
from facematch.search import OrganizationIndex, top_k, top_k_each
from facematch.writes import FULL_SHARD_VECTORS, MAX_SMALL_SHARDS, shards_to_merge

DIMENSIONS = 128


def unit_vectors(rng: np.random.Generator, count: int, dimensions: int = DIMENSIONS) -> np.ndarray:
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def random_vectors(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.choice(10 * size + 1000, size=size, replace=False).astype(np.int64)
    return ids, unit_vectors(rng, size)


@pytest.mark.parametrize(
    ("size", "k"),
    [(1, 1), (1, 5), (2, 1), (7, 5), (7, 7), (7, 50), (500, 1), (500, 5), (10_000, 1)]
    + [(10_000, 100), (20_000, 2), (60_000, 64), (60_000, 100), (200_000, 64)],
)
def test_top_k_matches_brute_force_ranking_and_dot_products(size, k):
    rng = np.random.default_rng(size * 1000 + k)
    ids, vectors = random_vectors(rng, size)
    query = unit_vectors(rng, 1)[0]

    scores = vectors @ query
    expected = np.argsort(-scores, kind="stable")[:k]
    found = top_k(ids, vectors, query, k)

    assert len(found) == min(k, size)
    assert [c.embed_id for c in found] == ids[expected].tolist()
    assert [c.similarity for c in found] == pytest.approx(scores[expected].tolist(), abs=1e-6)
    assert all(isinstance(c.embed_id, int) and isinstance(c.similarity, float) for c in found)


@pytest.mark.parametrize(
    "order", ["ascending", "descending", "every 97th the best", "all equal", "a few equal at the cutoff"]
)
def test_the_k_largest_are_exact_whatever_the_order_of_the_scores(order):
    size, k = 50_000, 64
    scores = np.random.default_rng(7).normal(size=size).astype(np.float32)
    if order == "ascending":
        scores.sort()
    elif order == "descending":
        scores[::-1].sort()
    elif order == "every 97th the best":  # the sampled scores are the largest: the cutoff lets too few through
        scores[::97] += 100
    elif order == "all equal":
        scores[:] = 0.5
    else:
        scores = np.round(scores, 1)
    ids = np.arange(size, dtype=np.int64)
    vectors = np.zeros((size, 2), np.float32)
    vectors[:, 0] = scores
    found = top_k(ids, vectors, np.array([1.0, 0.0], np.float32), k)
    assert sorted(c.similarity for c in found) == sorted(np.sort(scores)[-k:].tolist())
    assert len({c.embed_id for c in found}) == k


@pytest.mark.parametrize(("size", "k"), [(1, 3), (500, 1), (500, 64), (30_000, 64)])
def test_several_queries_in_one_product_find_what_each_finds_alone(size, k):
    rng = np.random.default_rng(size + k)
    ids, vectors = random_vectors(rng, size)
    queries = unit_vectors(rng, 5)
    together = top_k_each(ids, vectors, queries, k)
    alone = [top_k(ids, vectors, query, k) for query in queries]
    assert [[c.embed_id for c in found] for found in together] == [[c.embed_id for c in found] for found in alone]
    # A matrix product and a matrix-vector product may round the last float32 bit differently.
    for found, expected in zip(together, alone, strict=True):
        assert [c.similarity for c in found] == pytest.approx([c.similarity for c in expected], abs=1e-6)


def test_top_k_finds_an_enrolled_vector_itself_with_similarity_one():
    ids, vectors = random_vectors(np.random.default_rng(1), 1000)
    best = top_k(ids, vectors, vectors[123], 1)
    assert best[0].embed_id == int(ids[123])
    assert best[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_an_empty_index_returns_no_candidates():
    index = OrganizationIndex(DIMENSIONS, "Dlib")
    assert len(index) == 0
    assert index.top_k(unit_vectors(np.random.default_rng(0), 1)[0], 5) == []


def test_top_k_refuses_a_k_below_one():
    ids, vectors = random_vectors(np.random.default_rng(3), 10)
    with pytest.raises(ValueError):
        top_k(ids, vectors, vectors[0], 0)


def _fill(index: OrganizationIndex, key: str, ids: np.ndarray, vectors: np.ndarray) -> None:
    index.reserve(len(ids))
    start = index.size
    index.ids[start : start + len(ids)] = ids
    index.vectors[start : start + len(ids)] = vectors
    index.rows[key] = (start, len(ids))
    index.size += len(ids)


def test_dropping_shards_moves_the_remaining_rows_down_keeping_each_id_with_its_vector():
    rng = np.random.default_rng(2)
    index = OrganizationIndex(DIMENSIONS, "Dlib")
    shards = {
        key: (np.arange(start, start + count, dtype=np.int64), unit_vectors(rng, count))
        for key, start, count in [("a", 100, 3), ("b", 500, 1), ("c", 900, 6), ("d", 2000, 2)]
    }
    for key, (ids, vectors) in shards.items():
        _fill(index, key, ids, vectors)

    index.drop({"a", "c"})

    assert len(index) == 3
    assert sorted(index.ids[: index.size].tolist()) == [500, 2000, 2001]
    for key in ("b", "d"):
        start, count = index.rows[key]
        np.testing.assert_array_equal(index.ids[start : start + count], shards[key][0])
        np.testing.assert_array_equal(index.vectors[start : start + count], shards[key][1])
    assert set(index.rows) == {"b", "d"}
    assert index.top_k(shards["d"][1][1], 1)[0].embed_id == 2001


def test_reserve_grows_capacity_and_keeps_existing_rows():
    rng = np.random.default_rng(4)
    index = OrganizationIndex(DIMENSIONS, "Dlib")
    ids, vectors = random_vectors(rng, 10)
    _fill(index, "a", ids, vectors)
    index.reserve(100_000)
    assert len(index.ids) >= 100_010 and index.vectors.shape[1] == DIMENSIONS
    np.testing.assert_array_equal(index.ids[:10], ids)
    np.testing.assert_array_equal(index.vectors[:10], vectors)


def _manifest(counts: list[int]) -> ModelShards:
    return ModelShards(shards=tuple(ShardRef(f"s{i}", count) for i, count in enumerate(counts)))


def test_few_small_shards_are_left_alone():
    assert shards_to_merge(_manifest([1] * MAX_SMALL_SHARDS + [FULL_SHARD_VECTORS] * 30)) == []


def test_too_many_small_shards_merge_the_smallest_leaving_a_bounded_count():
    manifest = _manifest([5, 1, 300, 1, 2, 40, 1, 7, 9, 1, FULL_SHARD_VECTORS])
    merge = shards_to_merge(manifest)
    assert [s.count for s in merge] == sorted(s.count for s in merge)
    assert all(s.count < FULL_SHARD_VECTORS for s in merge)
    small_after = sum(1 for s in manifest.shards if s.count < FULL_SHARD_VECTORS) - len(merge) + 1
    assert small_after <= MAX_SMALL_SHARDS // 2 + 1
    assert max(s.count for s in merge) < 300  # the largest small shards are rewritten last


def test_ten_thousand_single_enrollments_stay_within_twenty_objects():
    counts: list[int] = []
    for _ in range(10_000):
        counts.append(1)
        merge = shards_to_merge(_manifest(counts))
        if merge:
            merged = sorted(counts)[: len(merge)]
            remaining = sorted(counts)[len(merge) :]
            counts = remaining + [sum(merged)]
        assert len(counts) + 1 <= 20  # shards + the manifest
    assert sum(counts) == 10_000


def test_normalize_returns_float32_unit_vectors_along_the_last_axis():
    vectors = np.random.default_rng(3).standard_normal((20, DIMENSIONS)) * 37.0
    unit = normalize(vectors)
    assert unit.dtype == np.float32 and unit.shape == vectors.shape
    np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, atol=1e-6)
    expected = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    np.testing.assert_allclose(unit, expected, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(normalize(vectors[0])), 1.0, atol=1e-6)  # one vector


def test_normalize_leaves_a_zero_vector_finite():
    unit = normalize(np.zeros((2, DIMENSIONS), np.float32))
    assert np.isfinite(unit).all()
    np.testing.assert_array_equal(unit, 0.0)
