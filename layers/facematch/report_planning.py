"""A duplicate report's plan: what one manifest version holds, cut into blocks, and the cut.

The edges of a report are significant matches among all N(N-1)/2 pairs (significance.py): a
pair is too close to be chance when P(a stranger is this close) x N(N-1)/2 is under the
report's bound. The estimate of P is the organization's calibration, as GET /api/calibration
computes it: the per-query fits of PROBES of its faces, each searched against all the others,
pooled. Below QUERY_MIN_SEARCHED faces, the model's reference. pair_blocks.edge_cut turns that
into one distance: the tasks keep the pairs within it.

Planning streams the version's shards twice at most (the ones holding a probe, then all), a
chunk of them at a time: memory holds a chunk, the ids and the probes' nearest distances, not
the organization.
"""

from __future__ import annotations

import hashlib

import numpy as np

from facematch import significance
from facematch.calibration import PROBES
from facematch.manifest import Manifest, ShardRef
from facematch.pair_blocks import edge_cut
from facematch.reports import Plan, ReportRecord, block_bounds
from facematch.search import parallel_map
from facematch.shards import ShardStore


class Planner:
    def __init__(self, shards: ShardStore, concurrency: int, block_faces: int) -> None:
        self.shards = shards
        self.concurrency = concurrency
        self.block_faces = block_faces

    def plan(self, record: ReportRecord, manifest: Manifest) -> Plan:
        """The plan of ``record``'s report over ``manifest`` (read by the caller, as readers see it)."""
        refs = tuple(ref for ref in manifest.of(record.model).shards if ref.count)
        probes = self._probes(record, refs)
        ids, smallest = self._scan(record, refs, probes)
        faces = len(ids)
        estimate, pooled = significance.pooled(list(smallest), max(0, faces - 1), record.model)
        comparisons = faces * (faces - 1) // 2
        cut = edge_cut(estimate, comparisons, record.max_expected_false_matches, record.same_person) if faces > 1 else -1.0
        return Plan(
            report_id=record.report_id,
            organization=record.organization,
            generation=manifest.generation,
            model=record.model,
            dimensions=record.dimensions,
            manifest_version=(manifest.etag or "").strip('"'),
            shards=refs,
            committed=manifest.committed,
            bounds=block_bounds(np.sort(ids), self.block_faces) if cut >= 0 else (),
            cut=cut,
            faces=faces,
            details={"comparisons": comparisons, "estimate_source": estimate.source, "probes": pooled},
        )

    def _probes(self, record: ReportRecord, refs: tuple[ShardRef, ...]) -> tuple[np.ndarray, np.ndarray]:
        """PROBES faces drawn at random (seeded by the report id, so a redone plan draws the same):
        their ids and vectors."""
        counts = np.array([ref.count for ref in refs], dtype=np.int64)
        total = int(counts.sum())
        seed = int.from_bytes(hashlib.sha256(record.report_id.encode()).digest()[:8], "big")
        picks = np.sort(np.random.default_rng(seed).choice(total, size=min(PROBES, total), replace=False))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        shard_of = np.searchsorted(starts, picks, side="right") - 1
        ids, vectors = [], []
        holding = sorted(set(shard_of.tolist()))
        contents = parallel_map(lambda index: self.shards.read_shard(refs[index], record.dimensions), holding, self.concurrency)
        for index, (shard_ids, shard_vectors) in zip(holding, contents, strict=True):
            rows = picks[shard_of == index] - starts[index]
            ids.append(shard_ids[rows])
            vectors.append(shard_vectors[rows])
        if not ids:
            return np.empty(0, np.int64), np.empty((0, record.dimensions), np.float32)
        return np.concatenate(ids), np.concatenate(vectors)

    def _scan(
        self, record: ReportRecord, refs: tuple[ShardRef, ...], probes: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every id, and each probe's QUERY_TAIL smallest distances to the other faces."""
        probe_ids, probe_vectors = probes
        tail = significance.QUERY_TAIL
        smallest = np.full((len(probe_ids), 0), np.inf, np.float32)
        ids = []
        for start in range(0, len(refs), self.concurrency):
            chunk = parallel_map(
                lambda ref: self.shards.read_shard(ref, record.dimensions), refs[start : start + self.concurrency], self.concurrency
            )
            for shard_ids, shard_vectors in chunk:
                ids.append(shard_ids)
                distances = 1.0 - probe_vectors @ shard_vectors.T
                distances[probe_ids[:, None] == shard_ids[None, :]] = np.inf  # a probe is no stranger to itself
                merged = np.concatenate([smallest, distances.astype(np.float32)], axis=1)
                keep = min(tail, merged.shape[1])
                smallest = np.partition(merged, keep - 1, axis=1)[:, :keep] if keep else merged
        every = np.concatenate(ids) if ids else np.empty(0, np.int64)
        return every, [np.sort(np.maximum(row[np.isfinite(row)], 0.0)).astype(np.float64) for row in smallest]
