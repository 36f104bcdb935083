"""A duplicate report's plan: what one manifest version holds, cut into blocks, and the cut.

The edges of a report are significant matches among all N(N-1)/2 pairs (significance.py): a
pair is too close to be chance when P(a stranger is this close) x N(N-1)/2 is under the
report's bound. P is the model's reference estimate (``significance.fallback``), not the
organization's calibration: a report needs P near 10^-12 (100k faces) to 10^-15 (1M), nine
orders of magnitude below what a calibration's per-query fits see, and there the pooled fits of
32 probes put the cut of one 100k-face organization anywhere from "nothing is significant" to
0.0094 depending on which faces were probed (512 probes: 0.0009 to 0.0061), where the reference
gives 0.0033 every time (docs/duplicate-reports.md). ``pair_blocks.edge_cut`` turns P into one
distance: the tasks keep the pairs within it.

Planning reads only the ids of the version's shards (8 bytes a face, ranged GETs), in parallel.
"""

from __future__ import annotations

import numpy as np

from facematch import significance
from facematch.manifest import Manifest
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
        ids = np.sort(np.concatenate([np.empty(0, np.int64), *parallel_map(self.shards.read_shard_ids, refs, self.concurrency)]))
        faces = len(ids)
        estimate = significance.fallback(record.model)
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
            bounds=block_bounds(ids, self.block_faces) if cut >= 0 else (),
            cut=cut,
            faces=faces,
            details={"comparisons": comparisons, "estimate_source": estimate.source},
        )
