"""The warm vectors' memory budget and the least-recently-used eviction under it (VectorStore over
an in-memory shard store), and the budget's derivation from the functions' memory."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from facematch import search, vector_cache
from facematch.config import Settings
from facematch.manifest import Manifest, ModelShards, ShardRef
from facematch.search import VectorStore
from facematch_local.resources import load_template, resolved

DIMENSIONS = 4
MODEL = "Dlib"
PER_FACE = vector_cache.bytes_per_face(DIMENSIONS)  # 24
FACES = 100  # per organization
ORGANIZATION_BYTES = FACES * PER_FACE


class MemoryShards:
    """A ShardStore's read side, in memory: one manifest per organization, shards of arrays."""

    def __init__(self) -> None:
        self.manifests: dict[str, Manifest] = {}
        self.shards: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.shard_reads = 0
        self.on_revalidate: dict[str, threading.Event] = {}  # organization -> wait for it, once
        self.revalidating = threading.Event()

    def put(self, organization: str, ids: np.ndarray, vectors: np.ndarray, shard_size: int = 40) -> None:
        """Replace the organization's vectors (shards of up to ``shard_size``)."""
        generation = len(self.shards)
        refs = []
        for start in range(0, len(ids), shard_size):
            key = f"orgs/{organization}/{generation}/{start}.npy"
            self.shards[key] = (ids[start : start + shard_size].copy(), vectors[start : start + shard_size].copy())
            refs.append(ShardRef(key, len(self.shards[key][0])))
        manifest = Manifest(models={MODEL: ModelShards(tuple(refs))})
        self.manifests[organization] = replace(manifest, etag=f'"{organization}-{generation}"')

    def add(self, organization: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add a shard to the organization's committed ones."""
        key = f"orgs/{organization}/{len(self.shards)}.npy"
        self.shards[key] = (ids.copy(), vectors.copy())
        manifest = self.manifests[organization]
        shards = ModelShards((*manifest.of(MODEL).shards, ShardRef(key, len(ids))))
        self.manifests[organization] = replace(manifest, models={MODEL: shards}, etag=f'"{key}"')

    def read_manifest(self, organization: str, *, if_changed_from: str | None = None) -> Manifest | None:
        release = self.on_revalidate.pop(organization, None) if if_changed_from else None
        if release is not None:
            self.revalidating.set()
            assert release.wait(10)
        manifest = self.manifests.get(organization, Manifest())
        if if_changed_from is not None and manifest.etag == if_changed_from:
            return None
        return manifest

    def read_shard_into(self, key: str, ids_out: np.ndarray, vectors_out: np.ndarray) -> None:
        self.shard_reads += 1
        ids, vectors = self.shards[key]
        ids_out[:] = ids
        vectors_out[:] = vectors


class RecordedLog:
    """Stands in for search.py's logger: what it was told, by level."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict]] = []

    def info(self, message: str, extra: dict | None = None) -> None:
        self.records.append(("info", message, extra or {}))

    def warning(self, message: str, extra: dict | None = None) -> None:
        self.records.append(("warning", message, extra or {}))

    def of(self, level: str) -> list[dict]:
        return [extra for recorded, _, extra in self.records if recorded == level]


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordedLog:
    recorded = RecordedLog()
    monkeypatch.setattr(search, "logger", recorded)
    return recorded


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def organizations(names: list[str], faces: int = FACES) -> MemoryShards:
    shards = MemoryShards()
    rng = np.random.default_rng(7)
    for number, name in enumerate(names):
        shards.put(name, np.arange(faces, dtype=np.int64) + 1000 * number, unit_vectors(rng, faces))
    return shards


def nearest_ids(store: VectorStore, organization: str, query: np.ndarray, k: int = 5) -> list[int]:
    return [candidate.embed_id for candidate in store.search(organization, MODEL, query, k)]


QUERY = np.full(DIMENSIONS, 0.5, np.float32)


def test_without_a_budget_nothing_is_evicted():
    store = VectorStore(organizations(["a", "b", "c"]), DIMENSIONS, 1)
    for name in "abc":
        store.refresh(name, MODEL)
    assert store.held() == [("a", MODEL), ("b", MODEL), ("c", MODEL)]
    assert store.held_bytes() == 3 * ORGANIZATION_BYTES


def test_the_least_recently_used_organization_is_evicted_first_and_logged(log):
    store = VectorStore(organizations(["a", "b", "c"]), DIMENSIONS, 1, budget_bytes=2 * ORGANIZATION_BYTES)
    store.refresh("a", MODEL)
    store.refresh("b", MODEL)
    store.refresh("c", MODEL)
    assert store.held() == [("b", MODEL), ("c", MODEL)]
    assert store.held_bytes() == 2 * ORGANIZATION_BYTES
    assert log.of("info") == [
        {"organization": "a", "model": MODEL, "freed_bytes": ORGANIZATION_BYTES, "for_organization": "c"}
    ]


@pytest.mark.parametrize(
    "use",
    [
        lambda store: store.search("a", MODEL, QUERY, 1),
        lambda store: store.distances("a", MODEL, QUERY[None, :], [1]),
        lambda store: store.sample("a", MODEL, 3),
        lambda store: store.refresh("a", MODEL),
    ],
    ids=["search", "distances", "sample", "refresh"],
)
def test_searching_sampling_measuring_or_refreshing_makes_an_organization_the_most_recent(use):
    store = VectorStore(organizations(["a", "b", "c"]), DIMENSIONS, 1, budget_bytes=2 * ORGANIZATION_BYTES)
    store.refresh("a", MODEL)
    store.refresh("b", MODEL)
    use(store)
    assert store.held() == [("b", MODEL), ("a", MODEL)]
    store.refresh("c", MODEL)
    assert store.held() == [("a", MODEL), ("c", MODEL)]


def test_the_budget_is_never_exceeded_after_a_load_when_evicting_can_meet_it():
    names = [f"org-{n}" for n in range(8)]
    shards = MemoryShards()
    rng = np.random.default_rng(3)
    for number, name in enumerate(names):  # sizes from 10 to 150 faces
        faces = 10 + 20 * number
        shards.put(name, np.arange(faces, dtype=np.int64) + 1000 * number, unit_vectors(rng, faces))
    budget = 4 * ORGANIZATION_BYTES
    store = VectorStore(shards, DIMENSIONS, 1, budget_bytes=budget)
    for name in rng.choice(names, size=60):
        store.search(str(name), MODEL, QUERY, 3)
        assert store.held_bytes() <= budget
        assert store.held()[-1] == (str(name), MODEL)


def test_only_as_many_organizations_as_needed_are_evicted():
    store = VectorStore(organizations(["a", "b", "c", "d"]), DIMENSIONS, 1, budget_bytes=3 * ORGANIZATION_BYTES)
    for name in "abcd":
        store.refresh(name, MODEL)
    assert store.held() == [("b", MODEL), ("c", MODEL), ("d", MODEL)]


def test_a_growth_copy_counts_against_the_budget_while_it_is_made(log):
    shards = organizations(["a", "b"])
    # b, grown from 100 to 1,200 faces, fits beside a (1,300 faces); but growing past its
    # capacity (100 + 25 + 1,024 rows) holds its 100 old rows twice until they are copied.
    store = VectorStore(shards, DIMENSIONS, 1, budget_bytes=1350 * PER_FACE)
    store.refresh("a", MODEL)
    store.refresh("b", MODEL)
    shards.add("b", np.arange(1100, dtype=np.int64) + 5000, unit_vectors(np.random.default_rng(5), 1100))
    store.refresh("b", MODEL)
    assert store.held() == [("b", MODEL)]
    assert store.held_bytes() == 1200 * PER_FACE
    assert not log.of("warning")


def test_an_organization_larger_than_the_budget_is_served_alone_and_answers_correctly(log):
    rng = np.random.default_rng(11)
    shards = organizations(["a", "b"])
    big_ids = np.arange(10 * FACES, dtype=np.int64) + 50_000
    big_vectors = unit_vectors(rng, 10 * FACES)
    shards.put("big", big_ids, big_vectors)
    store = VectorStore(shards, DIMENSIONS, 1, budget_bytes=3 * ORGANIZATION_BYTES)
    store.refresh("a", MODEL)
    store.refresh("b", MODEL)

    found = nearest_ids(store, "big", QUERY, k=7)

    assert found == big_ids[np.argsort(-(big_vectors @ QUERY), kind="stable")[:7]].tolist()
    assert store.held() == [("big", MODEL)]
    assert store.held_bytes() == 10 * ORGANIZATION_BYTES
    (warning,) = log.of("warning")
    assert warning["organization"] == "big"
    assert warning["faces"] == 10 * FACES
    assert warning["loading_bytes"] == 10 * ORGANIZATION_BYTES
    assert warning["budget_bytes"] == 3 * ORGANIZATION_BYTES


def test_an_evicted_organization_is_loaded_again_on_its_next_search_with_the_same_answer():
    shards = organizations(["a", "b", "c"])
    store = VectorStore(shards, DIMENSIONS, 1, budget_bytes=2 * ORGANIZATION_BYTES)
    before = nearest_ids(store, "a", QUERY, k=10)
    store.refresh("b", MODEL)
    store.refresh("c", MODEL)
    assert ("a", MODEL) not in store.held()
    reads = shards.shard_reads

    after = nearest_ids(store, "a", QUERY, k=10)

    assert after == before
    assert shards.shard_reads > reads  # read again, not answered from a kept copy
    assert store.held() == [("c", MODEL), ("a", MODEL)]
    assert store.held_bytes() == 2 * ORGANIZATION_BYTES


def test_a_search_running_on_an_evicted_organization_finishes_on_its_copy():
    shards = organizations(["a", "b", "c"])
    store = VectorStore(shards, DIMENSIONS, 2, budget_bytes=2 * ORGANIZATION_BYTES)
    expected = nearest_ids(store, "a", QUERY, k=10)
    store.refresh("b", MODEL)
    release = threading.Event()
    shards.on_revalidate["a"] = release  # the next search of a waits in its revalidation
    found: list[list[int]] = []
    searching = threading.Thread(target=lambda: found.append(nearest_ids(store, "a", QUERY, k=10)))
    searching.start()
    try:
        assert shards.revalidating.wait(10)
        store.refresh("b", MODEL)
        store.refresh("c", MODEL)  # evicts a, least recently used, while its search holds it
        assert ("a", MODEL) not in store.held()
    finally:
        release.set()
        searching.join(10)
    assert found == [expected]
    assert store.held() == [("b", MODEL), ("c", MODEL)]


def test_forgetting_an_organization_releases_its_share_of_the_budget():
    store = VectorStore(organizations(["a", "b", "c"]), DIMENSIONS, 1, budget_bytes=2 * ORGANIZATION_BYTES)
    store.refresh("a", MODEL)
    store.refresh("b", MODEL)
    store.forget("a")
    store.refresh("c", MODEL)
    assert store.held() == [("b", MODEL), ("c", MODEL)]


def test_evictions_take_the_fewest_oldest_first():
    others = [("old", 30), ("middle", 20), ("new", 10)]
    assert vector_cache.evictions(others, held=100, needed=0, budget=100) == []
    assert vector_cache.evictions(others, held=100, needed=25, budget=100) == ["old"]
    assert vector_cache.evictions(others, held=100, needed=40, budget=100) == ["old", "middle"]
    assert vector_cache.evictions(others, held=100, needed=500, budget=100) == ["old", "middle", "new"]


def test_an_explicit_budget_wins_over_the_one_derived_from_memory():
    settings = Settings(vector_cache_bytes=12345, function_memory_mb=3008)
    assert vector_cache.budget_bytes(settings) == 12345


def test_the_budget_is_the_function_memory_less_the_reserve():
    settings = Settings(vector_cache_bytes=None, function_memory_mb=1769)
    assert vector_cache.budget_bytes(settings) == (1769 - vector_cache.RESERVE_MIB) * 1024 * 1024
    assert vector_cache.budget_bytes(Settings(vector_cache_bytes=None, function_memory_mb=256)) == 0


def test_the_budget_is_read_from_lambdas_memory_size(monkeypatch):
    monkeypatch.delenv("FACEMATCH_VECTOR_CACHE_BYTES", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
    assert vector_cache.budget_bytes(Settings()) == (3008 - vector_cache.RESERVE_MIB) * 1024 * 1024


def test_there_is_no_budget_where_neither_is_known():
    assert vector_cache.budget_bytes(Settings(vector_cache_bytes=None, function_memory_mb=None)) is None


def test_faces_that_fit_divides_the_budget_by_the_bytes_of_a_face():
    assert vector_cache.bytes_per_face(128) == 520
    assert vector_cache.faces_that_fit(1769, 128) == (1769 - vector_cache.RESERVE_MIB) * 1024 * 1024 // 520
    assert vector_cache.faces_that_fit(vector_cache.RESERVE_MIB, 128) == 0


def test_the_default_organization_limit_is_what_the_smaller_vector_holding_function_keeps_warm():
    template = load_template()
    resources = template["Resources"]
    memory = min(
        int(resolved(template, resources[name]["Properties"]["MemorySize"]))
        for name in ("ApiFunction", "MatchingFunction")
    )
    limit = int(template["Parameters"]["MaxFacesPerOrganization"]["Default"])
    fits = vector_cache.faces_that_fit(memory, 128)  # Dlib, the default model
    assert 0.8 * fits <= limit <= fits
