"""VectorIndex: exact top-k by cosine similarity of unit vectors, and its assembly from shards."""

from __future__ import annotations

import numpy as np
import pytest

from facematch.faces import normalize
from facematch.search import VectorIndex
from facematch.shards import Shard

DIMENSIONS = 128


def unit_vectors(rng: np.random.Generator, count: int, dimensions: int = DIMENSIONS) -> np.ndarray:
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def random_index(rng: np.random.Generator, size: int) -> VectorIndex:
    ids = rng.choice(10 * size + 1000, size=size, replace=False).astype(np.int64)
    return VectorIndex(ids, unit_vectors(rng, size))


@pytest.mark.parametrize(
    ("size", "k"),
    [(1, 1), (1, 5), (2, 1), (7, 5), (7, 7), (7, 50), (500, 1), (500, 5), (10_000, 1)]
    + [(10_000, 100)],
)
def test_top_k_matches_brute_force_ranking_and_dot_products(size, k):
    rng = np.random.default_rng(size * 1000 + k)
    index = random_index(rng, size)
    query = unit_vectors(rng, 1)[0]

    scores = index.vectors @ query
    expected = np.argsort(-scores, kind="stable")[:k]
    found = index.top_k(query, k)

    assert len(found) == min(k, size)
    assert [c.embed_id for c in found] == index.ids[expected].tolist()
    assert [c.similarity for c in found] == pytest.approx(scores[expected].tolist(), abs=1e-6)
    assert all(isinstance(c.embed_id, int) and isinstance(c.similarity, float) for c in found)


def test_top_k_finds_an_enrolled_vector_itself_with_similarity_one():
    rng = np.random.default_rng(1)
    index = random_index(rng, 1000)
    best = index.top_k(index.vectors[123], 1)
    assert best[0].embed_id == int(index.ids[123])
    assert best[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_empty_index_returns_no_candidates():
    index = VectorIndex.from_shards([], DIMENSIONS)
    assert len(index) == 0
    assert index.top_k(unit_vectors(np.random.default_rng(0), 1)[0], 5) == []


def test_from_shards_without_shards_is_empty_with_the_right_dimensions():
    index = VectorIndex.from_shards([], 512)
    assert index.ids.shape == (0,) and index.ids.dtype == np.int64
    assert index.vectors.shape == (0, 512) and index.vectors.dtype == np.float32


def test_from_shards_concatenates_keeping_each_id_with_its_vector():
    rng = np.random.default_rng(2)
    shards = [
        Shard(ids=np.arange(start, start + count, dtype=np.int64), vectors=unit_vectors(rng, count))
        for start, count in [(100, 3), (500, 1), (900, 6)]
    ]
    index = VectorIndex.from_shards(shards, DIMENSIONS)

    assert len(index) == 10
    assert index.ids.tolist() == [100, 101, 102, 500, 900, 901, 902, 903, 904, 905]
    pairs = {int(i): v for shard in shards for i, v in zip(shard.ids, shard.vectors)}
    for embed_id, vector in zip(index.ids, index.vectors):
        np.testing.assert_array_equal(vector, pairs[int(embed_id)])
    for embed_id, vector in pairs.items():
        assert index.top_k(vector, 1)[0].embed_id == embed_id


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


def test_top_k_refuses_a_k_below_one():
    index = random_index(np.random.default_rng(3), 10)
    with pytest.raises(ValueError):
        index.top_k(index.vectors[0], 0)
