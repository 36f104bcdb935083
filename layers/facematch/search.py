"""Vector search over an organization's embeddings, and the warm cache of its shards."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facematch.shards import Manifest, Shard, ShardStore


@dataclass(frozen=True)
class Candidate:
    embed_id: int
    similarity: float


class VectorIndex:
    """All vectors of one organization and model as one matrix: a search is one matrix-vector product."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids = ids
        self.vectors = vectors

    @classmethod
    def from_shards(cls, shards: list[Shard], dimensions: int) -> VectorIndex:
        if not shards:
            return cls(np.empty(0, np.int64), np.empty((0, dimensions), np.float32))
        return cls(
            np.concatenate([shard.ids for shard in shards]),
            np.concatenate([shard.vectors for shard in shards]),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def top_k(self, query: np.ndarray, k: int) -> list[Candidate]:
        """The ``k`` most similar vectors (cosine similarity of unit vectors), best first."""
        if k < 1:
            raise ValueError("k must be at least 1")
        if not len(self):
            return []
        scores = self.vectors @ query
        k = min(k, len(scores))
        best = np.argpartition(scores, -k)[-k:]
        best = best[np.argsort(scores[best])[::-1]]
        return [Candidate(int(self.ids[i]), float(scores[i])) for i in best]


@dataclass
class _CachedOrganization:
    manifest: Manifest
    shards: dict[str, Shard]
    index: VectorIndex


class ShardCache:
    """Keeps loaded shards across warm invocations and re-reads only what the manifest changed.

    Each search costs one conditional GET of the manifest (S3 answers 304 when nothing
    changed); new shards are read in parallel, dropped ones are forgotten.
    """

    def __init__(self, store: ShardStore, dimensions: int, concurrency: int) -> None:
        self._store = store
        self._dimensions = dimensions
        self._concurrency = concurrency
        self._organizations: dict[tuple[str, str], _CachedOrganization] = {}
        self._lock = threading.Lock()

    def index(self, organization: str, model: str) -> VectorIndex:
        key = (organization, model)
        cached = self._organizations.get(key)
        manifest = self._store.read_manifest(
            organization, model, if_changed_from=cached.manifest.etag if cached else None
        )
        if manifest is None:
            return cached.index
        known = cached.shards if cached else {}
        missing = [ref.key for ref in manifest.shards if ref.key not in known]
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            loaded = dict(zip(missing, pool.map(self._store.read_shard, missing)))
        shards = {ref.key: known.get(ref.key) or loaded[ref.key] for ref in manifest.shards}
        refreshed = _CachedOrganization(
            manifest=manifest,
            shards=shards,
            index=VectorIndex.from_shards(list(shards.values()), self._dimensions),
        )
        with self._lock:
            self._organizations[key] = refreshed
        return refreshed.index
