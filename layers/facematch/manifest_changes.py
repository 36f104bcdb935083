"""The changes each write commits to an organization's manifest (docs/write-protocol.md).

Each is a pure function of the manifest current at the swap: it returns the manifest to write
and the shards that expire with it, or None when the manifest already has the change (a
replay, or a reply lost after the write landed), or raises when the change no longer applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from facematch.errors import OrganizationFull, PurgedDuringWrite
from facematch.manifest import ACTIVE, PURGED, PURGING, Manifest, RetiredBatch, ShardRef

Change = Callable[[Manifest], "tuple[Manifest, tuple[RetiredBatch, ...]] | None"]
Result = tuple[Manifest, tuple[RetiredBatch, ...]] | None


class ShardsMoved(Exception):
    """The shards a change was computed from were replaced meanwhile: compute it again."""


@dataclass(frozen=True)
class Rewrite:
    """What an erasure does to one model's shards: the live shards holding erased ids (removed),
    their rewrites without them (added), and the retired shards holding them (condemned)."""

    removed: list[str]
    added: list[ShardRef]
    retired_holding: list[ShardRef] = field(default_factory=list)


def commit_enrollment(
    current: Manifest,
    organization: str,
    generation: int,
    model: str,
    shard: ShardRef,
    ids: list[int],
    now: float,
    max_faces: int | None = None,
) -> Result:
    """Add ``shard``, holding ``ids``; refused when it would take the organization past
    ``max_faces``: checked here, at the swap, so concurrent enrollments cannot pass it together."""
    if current.generation != generation or current.state == PURGING:
        raise PurgedDuringWrite(organization)
    if current.committed.covers(ids):
        return None
    check_room(current, organization, len(ids), max_faces)
    updated, expired = current.with_shards(model, now=now, add=[shard])
    state = {"state": ACTIVE, "state_since": now} if current.state != ACTIVE else {}
    return replace(updated, committed=current.committed.union(ids), **state), expired


def check_room(manifest: Manifest, organization: str, adding: int, max_faces: int | None) -> None:
    if max_faces is not None and manifest.faces() + adding > max_faces:
        raise OrganizationFull(organization, manifest.faces(), adding, max_faces)


def commit_erasure(
    current: Manifest,
    read: Manifest,
    ids: set[int],
    rewrites: dict[str, Rewrite],
    now: float,
) -> Result:
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
    current: Manifest,
    read: Manifest,
    model: str,
    merged: ShardRef,
    replaced: set[str],
    batch: RetiredBatch,
    extends: RetiredBatch | None,
    now: float,
) -> Result:
    """Swap ``replaced`` for ``merged``, listing the replaced shards in ``batch``: the open
    retirement batch ``extends`` with them added, or a new one."""
    if merged.key in current.of(model).keys():
        return None
    if (
        current.generation != read.generation
        or current.state == PURGING
        or not replaced <= current.of(model).keys()
        or current.of(model).open_batch(now) != extends
    ):
        raise ShardsMoved
    return current.with_shards(model, now=now, add=[merged], remove=replaced, retire_into=batch)


def expire_retirements(current: Manifest, now: float) -> Result:
    """The sweeper's change: drop retirement batches past their time, and condemned shards past
    their hour, so an organization nobody writes to is tidied too."""
    if current.state == PURGING:
        return None
    updated, expired = current, ()
    for model in current.models:
        updated, gone = updated.with_shards(model, now=now)
        expired += gone
    return None if updated == current else (updated, expired)


def begin_purge(current: Manifest, now: float) -> Result:
    if current.state == PURGING:
        return None  # a purge under way (or interrupted): this one joins it
    return replace(current, state=PURGING, state_since=now, generation=current.generation + 1), ()


def finish_purge(current: Manifest, generation: int, now: float) -> Result:
    if current.state != PURGING or current.generation != generation:
        return None  # another run of this purge finished it
    return Manifest(state=PURGED, state_since=now, generation=generation), ()
