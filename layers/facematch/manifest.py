"""An organization's manifest: the one object whose compare-and-swap commits every change.

``orgs/<organization>/manifest.json`` holds, for one organization and every model:
- its state (``active``, ``purging``, ``purged``) and since when;
- its generation, which each purge bumps. Every object a generation writes lives under
  ``orgs/<organization>/g<generation>/``, so a purge deletes older generations only and a
  straggler from before the purge can never commit into the new one;
- ``committed``: every embed_id committed in this generation, and ``erased``: the committed ids
  deleted since (tombstones). An id is live while it is committed and not erased;
- per model, the shards holding the live vectors, recently replaced (retired) ones, and ones
  that held erased vectors (condemned) until their deletion is certain.

Pure data: ``writes.py`` reads it, applies one of the changes below, and swaps it in.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from facematch.errors import OrganizationPurging

ACTIVE, PURGING, PURGED = "active", "purging", "purged"
FORMAT_VERSION = 2
# How long a shard compaction replaced stays readable: far longer than loading a million
# vectors takes. At most MAX_RETIRED are kept (oldest expire first), so a burst of small
# enrollments cannot grow the manifest; a reader that still misses one reads the manifest again.
RETIREMENT_SECONDS = 60
MAX_RETIRED = 8
# A purge still "purging" after this long is taken as interrupted (its job lost, or merely
# long): readers see an empty organization, and a write gives it one bounded step, going on
# once that finished it and sending its job again otherwise (purges.py).
PURGE_LEASE_SECONDS = 15 * 60
CONDEMNED_SECONDS = 3600


@dataclass(frozen=True)
class IdSet:
    """A set of embed_ids as sorted, disjoint, non-adjacent closed intervals: ids come from
    one counter, so an organization's ids are a few runs, whatever their number."""

    intervals: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, ids: Iterable[int]) -> IdSet:
        return cls().union(ids)

    def union(self, ids: Iterable[int]) -> IdSet:
        merged: list[list[int]] = []
        for low, high in sorted([*self.intervals, *((i, i) for i in ids)]):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return IdSet(tuple((low, high) for low, high in merged))

    def covers(self, ids: Iterable[int]) -> bool:
        return all(embed_id in self for embed_id in ids)

    def __contains__(self, embed_id: object) -> bool:
        if not isinstance(embed_id, int):
            return False
        index = bisect.bisect_right(self.intervals, (embed_id, float("inf"))) - 1
        return index >= 0 and self.intervals[index][0] <= embed_id <= self.intervals[index][1]

    def to_json(self) -> list[list[int]]:
        return [list(interval) for interval in self.intervals]

    @classmethod
    def from_json(cls, data: list[list[int]]) -> IdSet:
        return cls(tuple((int(low), int(high)) for low, high in data))


@dataclass(frozen=True)
class ShardRef:
    key: str
    count: int
    # A shard is written once, so this is its only version: purging it needs no listing.
    version: str | None = None
    # When compaction replaced it. A replaced shard stays readable for a grace period, so a
    # reader still working from the previous manifest never finds it gone.
    retired_at: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "count": self.count, "version": self.version, "retired_at": self.retired_at}


@dataclass(frozen=True)
class ModelShards:
    shards: tuple[ShardRef, ...] = ()
    retired: tuple[ShardRef, ...] = ()
    # Shards that held erased vectors: never read again, and deleted by every deletion until
    # CONDEMNED_SECONDS have passed, so a deletion that stopped half-way is finished by a retry.
    condemned: tuple[ShardRef, ...] = ()

    def keys(self) -> set[str]:
        return {shard.key for shard in self.shards}


@dataclass(frozen=True)
class Manifest:
    state: str = ACTIVE
    state_since: float = 0.0
    generation: int = 1
    committed: IdSet = IdSet()
    erased: IdSet = IdSet()
    models: dict[str, ModelShards] = field(default_factory=dict)
    # The S3 ETag it was read with; None when the organization has no manifest yet.
    etag: str | None = None

    def of(self, model: str) -> ModelShards:
        return self.models.get(model, ModelShards())

    def is_live(self, embed_id: int) -> bool:
        return self.state != PURGING and embed_id in self.committed and embed_id not in self.erased

    def purge_interrupted(self, now: float) -> bool:
        return self.state == PURGING and now - self.state_since >= PURGE_LEASE_SECONDS

    def for_readers(self, organization: str, now: float) -> Manifest:
        """What a reader may see: nothing while a purge runs (409), and an empty organization
        once a purge was interrupted."""
        if self.state != PURGING:
            return self
        if not self.purge_interrupted(now):
            raise OrganizationPurging(organization)
        return Manifest(state=PURGING, state_since=self.state_since, generation=self.generation, etag=self.etag)

    def with_shards(
        self,
        model: str,
        *,
        now: float,
        add: Iterable[ShardRef] = (),
        remove: set[str] = frozenset(),
        erase: bool = False,
    ) -> tuple[Manifest, tuple[ShardRef, ...]]:
        """The manifest with ``remove`` swapped for ``add``, and the shards that expire now.

        Removed shards retire (stay readable for a grace period) unless ``erase``: a deletion
        must leave its vectors nowhere, so then every retired shard expires at once too."""
        current = self.of(model)
        removed = tuple(replace(s, retired_at=now) for s in current.shards if s.key in remove)
        retired = current.retired + removed
        condemned = tuple(s for s in current.condemned if now - s.retired_at <= CONDEMNED_SECONDS)
        if erase:
            expired, retired = retired, ()
            condemned += tuple(replace(s, retired_at=now) for s in expired)
        else:
            keep = [s for s in retired if now - s.retired_at <= RETIREMENT_SECONDS][-MAX_RETIRED:]
            expired = tuple(s for s in retired if s not in keep)
            retired = tuple(keep)
        shards = tuple(s for s in current.shards if s.key not in remove) + tuple(add)
        return replace(self, models={**self.models, model: ModelShards(shards, retired, condemned)}), expired

    def condemned(self) -> tuple[ShardRef, ...]:
        return tuple(s for shards in self.models.values() for s in shards.condemned)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "state": self.state,
                "state_since": self.state_since,
                "generation": self.generation,
                "committed": self.committed.to_json(),
                "erased": self.erased.to_json(),
                "models": {
                    model: {
                        "shards": [s.to_dict() for s in shards.shards],
                        "retired": [s.to_dict() for s in shards.retired],
                        "condemned": [s.to_dict() for s in shards.condemned],
                    }
                    for model, shards in sorted(self.models.items())
                },
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes, etag: str) -> Manifest:
        data = json.loads(body)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"manifest format {data.get('version')!r} is not {FORMAT_VERSION}")
        return cls(
            state=data["state"],
            state_since=data["state_since"],
            generation=data["generation"],
            committed=IdSet.from_json(data["committed"]),
            erased=IdSet.from_json(data["erased"]),
            models={
                model: ModelShards(
                    tuple(ShardRef(**s) for s in shards["shards"]),
                    tuple(ShardRef(**s) for s in shards["retired"]),
                    tuple(ShardRef(**s) for s in shards["condemned"]),
                )
                for model, shards in data["models"].items()
            },
            etag=etag,
        )
