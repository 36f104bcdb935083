"""The changes each write commits to an organization's manifest (docs/write-protocol.md).

Each is a pure function of the manifest current at the swap: it returns the manifest to write
and the shards that expire with it, or None when the manifest already has the change (a
replay, or a reply lost after the write landed), or raises when the change no longer applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from facematch.errors import PurgedDuringWrite
from facematch.manifest import ACTIVE, PURGED, PURGING, Manifest, ShardRef

Change = Callable[[Manifest], "tuple[Manifest, tuple[ShardRef, ...]] | None"]


class ShardsMoved(Exception):
    """The shards a change was computed from were replaced meanwhile: compute it again."""


@dataclass(frozen=True)
class Rewrite:
    """What an erasure does to one model's shards: the live shards holding erased ids (removed),
    their rewrites without them (added), and the retired shards holding them (condemned)."""

    removed: list[str]
    added: list[ShardRef]
    retired_holding: set[str] = field(default_factory=set)


def commit_enrollment(
    current: Manifest, organization: str, generation: int, model: str, shard: ShardRef, ids: list[int], now: float
) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    if current.generation != generation or current.state == PURGING:
        raise PurgedDuringWrite(organization)
    if current.committed.covers(ids):
        return None
    updated, expired = current.with_shards(model, now=now, add=[shard])
    state = {"state": ACTIVE, "state_since": now} if current.state != ACTIVE else {}
    return replace(updated, committed=current.committed.union(ids), **state), expired


def commit_erasure(
    current: Manifest,
    read: Manifest,
    ids: set[int],
    rewrites: dict[str, Rewrite],
    now: float,
) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    if current.generation != read.generation or current.state == PURGING or current.erased.covers(ids):
        return None  # erased already: by a purge, or by this very change before its reply was lost
    expired: tuple[ShardRef, ...] = ()
    updated = current
    for model, rewrite in rewrites.items():
        if not set(rewrite.removed) <= current.of(model).keys():
            raise ShardsMoved
        updated, gone = updated.with_shards(
            model, now=now, add=rewrite.added, remove=set(rewrite.removed), condemn=rewrite.retired_holding
        )
        expired += gone
    return replace(updated, erased=current.erased.union(ids)), expired


def commit_merge(
    current: Manifest, read: Manifest, model: str, merged: ShardRef, replaced: set[str], now: float
) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    if merged.key in current.of(model).keys():
        return None
    if current.generation != read.generation or current.state == PURGING or not replaced <= current.of(model).keys():
        raise ShardsMoved
    return current.with_shards(model, now=now, add=[merged], remove=replaced)


def expire_retirements(current: Manifest, now: float) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    """The sweeper's change: forget retired shards past their retirement and condemned ones past
    their hour, so an organization nobody writes to is tidied too; the retired ones expire."""
    if current.state == PURGING:
        return None
    updated, expired = current, ()
    for model in current.models:
        updated, gone = updated.with_shards(model, now=now)
        expired += gone
    return None if updated == current else (updated, expired)


def begin_purge(current: Manifest, now: float) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    if current.state == PURGING:
        return None  # a purge under way (or interrupted): this one joins it
    return replace(current, state=PURGING, state_since=now, generation=current.generation + 1), ()


def finish_purge(current: Manifest, generation: int, now: float) -> tuple[Manifest, tuple[ShardRef, ...]] | None:
    if current.state != PURGING or current.generation != generation:
        return None  # another run of this purge finished it
    return Manifest(state=PURGED, state_since=now, generation=generation), ()
