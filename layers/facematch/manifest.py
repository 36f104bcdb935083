"""An organization's manifest: the one object whose compare-and-swap commits every change.

``orgs/<organization>/manifest.json`` holds, for one organization and every model:
- its state (``active``, ``purging``, ``purged``) and since when;
- its generation, which each purge bumps. Every object a generation writes lives under
  ``orgs/<organization>/g<generation>/``, so a purge deletes older generations only and a
  straggler from before the purge can never commit into the new one;
- ``committed``: every embed_id committed in this generation, and ``erased``: the committed ids
  deleted since (tombstones). An id is live while it is committed and not erased;
- per model, the shards holding the live vectors, the batches listing recently replaced
  (retired) ones, and the shards that held erased vectors (condemned) until their deletion is
  certain.
An object that no manifest names (nor a batch it names) is the sweeper's (sweeper.py) once it
is older than RETIREMENT_SECONDS.
A shard no manifest names is the sweeper's (sweeper.py) once it is older than RETIREMENT_SECONDS.

Pure data: ``writes.py`` reads it, applies one of the changes below, and swaps it in.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from facematch.errors import OrganizationPurging

ACTIVE, PURGING, PURGED = "active", "purging", "purged"
FORMAT_VERSION = 3
# How long a replaced shard stays readable after the commit that replaced it, for readers still
# loading the manifest before it. A reader loads within one invocation (the functions' timeout is
# 25 s; a million vectors load in about 1 s), so five minutes is a wide margin. Time alone
# decides: no burst of commits can take a shard from a reader sooner. Erasure is apart: a
# deletion condemns at once every shard, retired or not, that holds an erased vector.
RETIREMENT_SECONDS = 5 * 60
# Retired shards are listed in retirement batches (objects of their own), one per window of this
# length, so the manifest names a handful of batches however many shards a burst retires.
RETIREMENT_WINDOW_SECONDS = 30
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

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` (an int64 array) are in the set, at numpy speed."""
        intervals = np.asarray(self.intervals, dtype=np.int64).reshape(-1, 2)
        at = np.searchsorted(intervals[:, 0], ids, side="right") - 1
        return (at >= 0) & (ids <= intervals[np.maximum(at, 0), 1]) if len(intervals) else np.zeros(len(ids), bool)

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
    # When compaction (or a deletion) replaced it.
    retired_at: float | None = None
    # The range of its ids: a deletion reads only the shards whose range holds an erased id.
    min_id: int | None = None
    max_id: int | None = None

    def may_hold(self, ids: Iterable[int]) -> bool:
        if self.min_id is None or self.max_id is None:
            return True
        return any(self.min_id <= embed_id <= self.max_id for embed_id in ids)

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class RetiredBatch:
    """An object listing the shards compactions replaced during one window: they stay readable
    (for readers on an older manifest) until RETIREMENT_SECONDS after the window closes."""

    key: str
    version: str | None
    opened_at: float
    count: int

    def is_open(self, now: float) -> bool:
        return now - self.opened_at < RETIREMENT_WINDOW_SECONDS

    def expired(self, now: float) -> bool:
        return now - self.opened_at > RETIREMENT_WINDOW_SECONDS + RETIREMENT_SECONDS

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


@dataclass(frozen=True)
class ModelShards:
    shards: tuple[ShardRef, ...] = ()
    retired: tuple[RetiredBatch, ...] = ()
    # Shards that held erased vectors: never read again, and deleted by every deletion until
    # CONDEMNED_SECONDS have passed, so a deletion that stopped half-way is finished by a retry.
    condemned: tuple[ShardRef, ...] = ()

    def keys(self) -> set[str]:
        return {shard.key for shard in self.shards}

    def open_batch(self, now: float) -> RetiredBatch | None:
        """The retirement batch a compaction now adds to (the newest, while its window is open)."""
        return self.retired[-1] if self.retired and self.retired[-1].is_open(now) else None


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

    def faces(self) -> int:
        """How many faces are held, all models together: a deletion rewrites the shards that
        held its faces without them, so the live shards hold exactly the live faces."""
        return sum(shard.count for shards in self.models.values() for shard in shards.shards)

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
        condemn: Iterable[ShardRef] = (),
        retire_into: RetiredBatch | None = None,
    ) -> tuple[Manifest, tuple[RetiredBatch, ...]]:
        """The manifest with ``remove`` swapped for ``add``, and the retirement batches that
        expire now.

        Removed shards are listed in ``retire_into`` (a compaction's batch, replacing the open
        one it extends), or else condemned (a deletion's), with the retired shards ``condemn``:
        condemned shards are never read again and are deleted at once."""
        current = self.of(model)
        removed = tuple(replace(s, retired_at=now) for s in current.shards if s.key in remove)
        condemned = tuple(s for s in current.condemned if now - s.retired_at <= CONDEMNED_SECONDS)
        retired = current.retired
        if retire_into is not None:
            open_batch = current.open_batch(now)
            retired = tuple(b for b in retired if b != open_batch) + (retire_into,)
        else:
            condemned += removed + tuple(replace(s, retired_at=now) for s in condemn)
        expired = tuple(b for b in retired if b.expired(now))
        retired = tuple(b for b in retired if b not in expired)
        shards = tuple(s for s in current.shards if s.key not in remove) + tuple(add)
        return replace(self, models={**self.models, model: ModelShards(shards, retired, condemned)}), expired

    def names(self, key: str) -> bool:
        """Whether any model lists ``key``: a live or condemned shard, or a retirement batch."""
        return any(
            key == entry.key
            for shards in self.models.values()
            for entry in (*shards.shards, *shards.retired, *shards.condemned)
        )

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
                    tuple(RetiredBatch(**b) for b in shards["retired"]),
                    tuple(ShardRef(**s) for s in shards["condemned"]),
                )
                for model, shards in data["models"].items()
            },
            etag=etag,
        )
