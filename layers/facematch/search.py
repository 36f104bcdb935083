"""Vector search, the read side: every organization's vectors in one matrix, kept warm.

``VectorStore`` keeps, per organization and model, one preallocated matrix that shards are
streamed straight into (no concatenation, so memory stays close to the raw vector bytes),
revalidates the manifest before each search (a 304 when nothing changed) and reads only the
shards it has not seen. Under a memory budget (vector_cache.py) it evicts the least recently used
organizations to make room for those it loads. It never writes: every write is ``writes.py``'s.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from aws_lambda_powertools import Logger

from facematch import vector_cache
from facematch.errors import StoreConflict
from facematch.manifest import Manifest, ShardRef
from facematch.shards import ShardMissing, ShardStore

_REFRESH_ATTEMPTS = 5

logger = Logger()


@dataclass(frozen=True)
class Candidate:
    embed_id: int
    similarity: float


@dataclass(frozen=True)
class Neighbours:
    """The nearest candidates, best first, and how many faces the search compared the query with;
    ``to_nearest``: each candidate's cosine distance to the first (significance.from_neighbours)."""

    candidates: list[Candidate]
    searched: int
    to_nearest: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass(frozen=True)
class Sample:
    """Some of an organization's faces, and how many it has."""

    ids: np.ndarray
    vectors: np.ndarray
    size: int


def parallel_map(function, items, concurrency: int) -> list:  # noqa: ANN001
    """Run S3 reads in parallel: one request per item, all in flight at once."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(function, items))


def top_k(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[Candidate]:
    """The ``k`` most similar vectors (cosine similarity of unit vectors), best first."""
    return top_k_each(ids, vectors, np.asarray(query)[None, :], k)[0]


def top_k_each(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[Candidate]]:
    """``top_k`` for each row of ``queries``, scored in one matrix product."""
    return [candidates for candidates, _ in _best_rows_each(ids, vectors, queries, k)]


def neighbours_each(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> list[Neighbours]:
    """``top_k_each``, with each candidate's distance to the query's nearest one."""
    found = []
    for candidates, rows in _best_rows_each(ids, vectors, queries, k):
        to_nearest = np.maximum(0.0, 1.0 - vectors[rows] @ vectors[rows[0]]) if len(rows) else np.empty(0)
        found.append(Neighbours(candidates, len(ids), to_nearest))
    return found


def _best_rows_each(
    ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int
) -> list[tuple[list[Candidate], np.ndarray]]:
    if k < 1:
        raise ValueError("k must be at least 1")
    if not len(ids):
        return [([], np.empty(0, np.int64)) for _ in queries]
    every_score = vectors @ queries.T if len(queries) > 1 else (vectors @ queries[0])[:, None]
    k = min(k, len(ids))
    found = []
    for scores in every_score.T:
        if k == 1:  # a single pass, no partial sort
            best = np.array([np.argmax(scores)])
        else:
            best = _largest(scores, k)
            best = best[np.argsort(scores[best])[::-1]]
        found.append(([Candidate(int(ids[i]), float(scores[i])) for i in best], best))
    return found


# Above this many scores, the k largest are looked for among those over a cutoff first.
_PREFILTER_FROM = 20_000
_PREFILTER_STRIDE = 97


def _largest(scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` largest scores, in no order. Every compare asks for 64 (its
    significance fit): a partial sort of all N costs 8 times an argmax at 1M, so a cutoff taken
    from every 97th score keeps about 4k candidates first. When fewer than k pass it (an
    unlucky order), the full partial sort answers: the result is the same either way."""
    size = len(scores)
    if size >= _PREFILTER_FROM:
        sample = scores[::_PREFILTER_STRIDE]
        rank = min(len(sample) - 1, 4 * k * len(sample) // size + 8)
        cutoff = np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank]
        passed = np.flatnonzero(scores >= cutoff)
        if len(passed) >= k:
            return passed[np.argpartition(scores[passed], len(passed) - k)[-k:]]
    return np.argpartition(scores, size - k)[-k:]


@dataclass
class OrganizationIndex:
    """One organization's vectors for one model: rows ``[0, size)`` of preallocated arrays."""

    dimensions: int
    model: str
    manifest: Manifest = field(default_factory=Manifest)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # shard key -> (start, count)
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    vectors: np.ndarray | None = None
    size: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.vectors is None:
            self.vectors = np.empty((0, self.dimensions), np.float32)

    def __len__(self) -> int:
        return self.size

    def held_bytes(self) -> int:
        """The bytes its rows in use hold (unused capacity was never touched: it holds none)."""
        return self.size * vector_cache.bytes_per_face(self.dimensions)

    def top_k(self, query: np.ndarray, k: int) -> list[Candidate]:
        return top_k(self.ids[: self.size], self.vectors[: self.size], query, k)

    def neighbours_each(self, queries: np.ndarray, k: int) -> list[Neighbours]:
        return neighbours_each(self.ids[: self.size], self.vectors[: self.size], queries, k)

    def drop(self, keys: set[str]) -> None:
        """Forget shards, moving later rows down over the gap (in place: no second matrix)."""
        position = 0
        for key, (start, count) in sorted(self.rows.items(), key=lambda item: item[1][0]):
            if key in keys:
                continue
            if start != position:
                self.ids[position : position + count] = self.ids[start : start + count]
                self.vectors[position : position + count] = self.vectors[start : start + count]
            self.rows[key] = (position, count)
            position += count
        for key in keys:
            self.rows.pop(key, None)
        self.size = position

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` more rows. Unused capacity is never touched, so it costs no memory."""
        needed = self.size + rows
        if needed <= len(self.ids):
            return
        capacity = needed + needed // 4 + 1024
        ids = np.empty(capacity, np.int64)
        vectors = np.empty((capacity, self.dimensions), np.float32)
        ids[: self.size] = self.ids[: self.size]
        vectors[: self.size] = self.vectors[: self.size]
        self.ids, self.vectors = ids, vectors


class VectorStore:
    """Searches over warm copies of the committed vectors.

    ``budget_bytes``: the most bytes of warm vectors to hold (vector_cache.budget_bytes; None:
    no limit). Before an organization's new rows are loaded, the least recently used other
    organizations (searched, sampled, refreshed or measured least recently) are evicted until
    they fit. An organization is never evicted to load itself: one larger than the budget is
    served alone. A search already running on an evicted copy finishes on it; the memory is
    freed when it ends."""

    def __init__(
        self,
        store: ShardStore,
        dimensions: int,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        *,
        budget_bytes: int | None = None,
    ) -> None:
        self.shards = store
        self.clock = clock
        self.dimensions = dimensions
        self.budget_bytes = budget_bytes
        self._concurrency = concurrency
        # Least recently used first. Lock order: an index's lock, then this one, held briefly;
        # never an index's lock while holding this one.
        self._indexes: OrderedDict[tuple[str, str], OrganizationIndex] = OrderedDict()
        self._indexes_lock = threading.Lock()

    def held(self) -> list[tuple[str, str]]:
        """The (organization, model) pairs held warm, least recently used first."""
        with self._indexes_lock:
            return list(self._indexes)

    def held_bytes(self) -> int:
        """The bytes of the vectors held warm (ids included), as the budget counts them."""
        with self._indexes_lock:
            return sum(index.held_bytes() for index in self._indexes.values())

    def search(
        self, organization: str, model: str, query: np.ndarray, k: int, *, revalidate: bool = True
    ) -> list[Candidate]:
        """The ``k`` best matches; ``revalidate=False`` when ``refresh`` just ran for this request."""
        return self.nearest(organization, model, query, k, revalidate=revalidate).candidates

    def nearest(
        self, organization: str, model: str, query: np.ndarray, k: int, *, revalidate: bool = True
    ) -> Neighbours:
        """``search``, with the number of faces searched, read under the same lock."""
        return self.nearest_each(organization, model, np.asarray(query)[None, :], k, revalidate=revalidate)[0]

    def nearest_each(
        self, organization: str, model: str, queries: np.ndarray, k: int, *, revalidate: bool = True
    ) -> list[Neighbours]:
        """``nearest`` for each row of ``queries``: one matrix product over the same vectors."""
        index = self._index(organization, model)
        with index.lock:
            if revalidate:
                self._refresh(index, organization, model)
            return index.neighbours_each(queries, k)

    def distances(self, organization: str, model: str, queries: np.ndarray, embed_ids: list[int]) -> np.ndarray:
        """The cosine distances from each query (a row) to those of ``embed_ids`` that are searched
        now (a column each): one pass over the ids, whatever the number of queries."""
        index = self._index(organization, model)
        with index.lock:
            rows = np.flatnonzero(np.isin(index.ids[: index.size], np.asarray(embed_ids, np.int64)))
            return np.maximum(0.0, 1.0 - queries @ index.vectors[rows].T)

    def sample(self, organization: str, model: str, count: int) -> Sample:
        """Up to ``count`` of the committed faces (copies), the same ones until the manifest changes."""
        index = self._index(organization, model)
        with index.lock:
            self._refresh_or_forget(index, organization, model)
            seed = zlib.crc32((index.manifest.etag or "").encode())
            rows = np.random.default_rng(seed).permutation(index.size)[:count]
            return Sample(index.ids[rows].copy(), index.vectors[rows].copy(), index.size)

    def refresh(self, organization: str, model: str) -> int:
        """Bring the warm copy up to the committed manifest; returns the number of vectors."""
        index = self._index(organization, model)
        with index.lock:
            self._refresh_or_forget(index, organization, model)
            return len(index)

    def forget(self, organization: str) -> None:
        """Drop an organization's warm copy (after it was purged)."""
        with self._indexes_lock:
            for key in [key for key in self._indexes if key[0] == organization]:
                del self._indexes[key]

    def _index(self, organization: str, model: str) -> OrganizationIndex:
        """The organization's index, now its most recently used."""
        key = (organization, model)
        with self._indexes_lock:
            index = self._indexes.get(key)
            if index is None:
                index = self._indexes[key] = OrganizationIndex(self.dimensions, model)
            else:
                self._indexes.move_to_end(key)
            return index

    def _map(self, function, items):  # noqa: ANN001, ANN202
        """Run S3 reads in parallel: one request per shard, all in flight at once."""
        return parallel_map(function, items, self._concurrency)

    def _refresh_or_forget(self, index: OrganizationIndex, organization: str, model: str) -> None:
        self._refresh(index, organization, model)
        if index.manifest.etag is None:  # nothing stored: keep no entry per name asked about
            with self._indexes_lock:
                self._indexes.pop((organization, model), None)

    def _refresh(self, index: OrganizationIndex, organization: str, model: str) -> None:
        etag = index.manifest.etag
        for _ in range(_REFRESH_ATTEMPTS):
            manifest = self.shards.read_manifest(organization, if_changed_from=etag)
            if manifest is None:
                return
            manifest = manifest.for_readers(organization, self.clock())
            try:
                self._apply(index, manifest, organization)
                return
            except ShardMissing:
                etag = None  # compacted away since that manifest was read: read it again
        raise StoreConflict(f"The shards of {organization!r} kept changing while being read; retry.")

    def _apply(self, index: OrganizationIndex, manifest: Manifest, organization: str) -> None:
        shards = manifest.of(index.model).shards
        index.drop(set(index.rows) - {ref.key for ref in shards})
        added = [ref for ref in shards if ref.key not in index.rows]
        rows = sum(ref.count for ref in added)
        self._make_room(index, organization, rows)
        index.reserve(rows)
        placements = []
        position = index.size
        for ref in added:
            placements.append((ref, position))
            position += ref.count

        def load(placement: tuple[ShardRef, int]) -> None:
            ref, start = placement
            self.shards.read_shard_into(
                ref.key,
                index.ids[start : start + ref.count],
                index.vectors[start : start + ref.count],
            )

        self._map(load, placements)
        for ref, start in placements:
            index.rows[ref.key] = (start, ref.count)
        index.size = position
        index.manifest = manifest

    def _make_room(self, index: OrganizationIndex, organization: str, rows: int) -> None:
        """Evict the least recently used other indexes until ``rows`` more rows of ``index`` fit
        the budget, and the old rows too when ``reserve`` will copy them into larger arrays
        (both are held until it returns). Runs under ``index.lock``; reads the others' sizes
        without theirs (a load running on another one at the same time may be counted short)."""
        if self.budget_bytes is None or rows == 0:
            return
        per_face = vector_cache.bytes_per_face(self.dimensions)
        copied = index.size if index.size + rows > len(index.ids) else 0
        needed = (rows + copied) * per_face
        with self._indexes_lock:
            others = [(key, other.held_bytes()) for key, other in self._indexes.items() if other is not index]
            held = index.held_bytes() + sum(size for _, size in others)
            evicted = vector_cache.evictions(others, held, needed, self.budget_bytes)
            for key in evicted:
                del self._indexes[key]
        freed = dict(others)
        for evicted_organization, model in evicted:
            logger.info(
                "Evicted warm vectors",
                extra={
                    "organization": evicted_organization,
                    "model": model,
                    "freed_bytes": freed[(evicted_organization, model)],
                    "for_organization": organization,
                },
            )
        held -= sum(freed[key] for key in evicted)
        if held + needed > self.budget_bytes:
            logger.warning(
                "Warm vectors over budget with every other organization evicted",
                extra={
                    "organization": organization,
                    "model": index.model,
                    "faces": index.size + rows,
                    "held_bytes": held,
                    "loading_bytes": needed,
                    "budget_bytes": self.budget_bytes,
                },
            )
