"""Every write FaceMatch makes to an organization's faces, across S3 and DynamoDB.

The protocol (docs/write-protocol.md): a change becomes visible at exactly one write, the
compare-and-swap of the organization's manifest (manifest.py). What is written before it is
invisible (a shard no manifest names, metadata of an id not committed); what is removed after it
(condemned shards, metadata, photos) is already unreachable. A failure at any step therefore
leaves the state before or the state after, plus objects no reader can reach. Every change is
idempotent: replaying a commit whose reply was lost finds it done and changes nothing.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from aws_lambda_powertools import Logger

from facematch.catalog import Catalog, EmbeddingRecord
from facematch.errors import OrganizationPurging, PurgedDuringWrite, StoreConflict
from facematch.idempotency import EnrollOnce, Repeatable
from facematch.jobs import Jobs
from facematch.manifest import PURGING, Manifest, ModelShards, RetiredBatch, ShardRef
from facematch.manifest_changes import (
    Change,
    Rewrite,
    ShardsMoved,
    check_room,
    commit_enrollment,
    commit_erasure,
    commit_merge,
    expire_retirements,
)
from facematch.photos import PhotoStore
from facematch.purges import Purges
from facematch.report_store import ReportRecords
from facematch.search import parallel_map
from facematch.shards import ManifestConflict, ShardMissing, ShardStore
from facematch.table import in_organization

logger = Logger()

# A shard this full is never merged again: about 33 MB of vectors.
FULL_SHARD_VECTORS = 65_536
# More small shards than this are merged, so an organization stays a handful of objects.
MAX_SMALL_SHARDS = 8
_SWAP_ATTEMPTS = 25
_REWRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class NewFace:
    """One face to enroll: its vector, where it is in its photo, and the photo if it is kept."""

    vector: np.ndarray
    box: dict[str, int]
    source: str
    photo: bytes | None = None


def shards_to_merge(shards: ModelShards) -> list[ShardRef]:
    """The small shards to fold into one, smallest first; empty while there are few of them."""
    small = sorted((s for s in shards.shards if s.count < FULL_SHARD_VECTORS), key=lambda s: s.count)
    if len(small) <= MAX_SMALL_SHARDS:
        return []
    # Merging the smaller half keeps rewrites cheap: large shards are rewritten rarely.
    return small[: len(small) - MAX_SMALL_SHARDS // 2 + 1]


class Writes:
    def __init__(
        self,
        catalog: Catalog,
        shards: ShardStore,
        dimensions: int,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        *,
        jobs: Jobs | None = None,
        purge_step_seconds: float = math.inf,
        max_faces: int | None = None,
    ) -> None:
        """``purge_step_seconds``: how long a write works on an interrupted purge; ``jobs`` takes
        the rest. By default (benchmarks, no job queue) a write finishes the purge itself.
        ``max_faces``: the most faces an organization may hold (None: no limit)."""
        self.catalog = catalog
        self.shards = shards
        self.photos = PhotoStore(shards)
        self.once = EnrollOnce(catalog.table_name, clock)
        self.dimensions = dimensions
        self.concurrency = concurrency
        self.clock = clock
        self.max_faces = max_faces
        self.leases = ReportRecords(catalog.table_name)
        # The purge commits through this module's compare-and-swap, in steps of its own.
        self.purges = Purges(catalog, shards, self._swap, clock, jobs, purge_step_seconds)

    # What readers see

    def readable(self, organization: str) -> Manifest:
        """The manifest as readers may see it (``OrganizationPurging`` while a purge runs)."""
        return self.shards.read_manifest(organization).for_readers(organization, self.clock())

    def live(self, organization: str, records: list[EmbeddingRecord]) -> list[EmbeddingRecord]:
        """The records whose faces are committed and not erased: metadata of an enrollment still
        in flight, or of one that failed, is nobody's to see."""
        manifest = self.readable(organization)
        return [record for record in records if manifest.is_live(record.embed_id)]

    def erasable(self, organization: str, records: list[EmbeddingRecord]) -> list[EmbeddingRecord]:
        """The records a deletion takes: the live ones, and those already erased whose deletion
        stopped before its end (a retry finishes it, so nothing of an erased face lingers)."""
        manifest = self.readable(organization)
        return [r for r in records if manifest.is_live(r.embed_id) or r.embed_id in manifest.erased]

    # Enroll

    def ensure_room(self, organization: str, adding: int) -> None:
        """Refuse at once (``OrganizationFull``) an enrollment that cannot fit: before any work.
        The commit checks again, against the manifest it replaces. No limit: no read."""
        if self.max_faces is not None:
            check_room(self.readable(organization), organization, adding, self.max_faces)

    def enroll(
        self,
        organization: str,
        model: str,
        faces: list[NewFace],
        external_id: str | None,
        *,
        repeatable: Repeatable | None = None,
        images: list[int] | None = None,
    ) -> list[EmbeddingRecord]:
        """Store faces as one enrollment: all of them become visible at one commit, or none.

        A ``repeatable`` enrollment (a redelivered upload, a retried Idempotency-Key) claims the
        same ids on every attempt, so it commits once however often it is tried (``images``, which
        of its request's photos the faces are, is kept with the claim). Each attempt
        writes a shard of its own: a shard is never reused, so the sweeper can take any shard no
        manifest names once it is older than any attempt can run."""
        manifest = self._writable(organization)
        generation = manifest.generation
        if repeatable:
            allocate = functools.partial(self.catalog.allocate_ids, organization)
            claim = functools.partial(self.once.claim_ids, organization, repeatable, generation, allocate, len(faces), images)
            ids = claim()
            if manifest.committed.covers(ids):
                if all(manifest.is_live(embed_id) for embed_id in ids):
                    return self.catalog.get_embeddings(organization, ids)  # enrolled by an earlier attempt
                # Erased since (a crash stopped the deletion before it forgot the claim): as new.
                self.catalog.delete_items([in_organization(organization, repeatable.claim_sk)])
                ids = claim()
        else:
            ids = self.catalog.allocate_ids(organization, len(faces))
        check_room(manifest, organization, len(ids), self.max_faces)
        created_at = timestamp(self.clock())
        vectors = np.stack([face.vector for face in faces])
        shard = self.shards.write_shard(organization, generation, model, np.asarray(ids), vectors)
        photo_keys = [
            self.photos.put(organization, generation, embed_id, face.photo) if face.photo is not None else None
            for embed_id, face in zip(ids, faces)
        ]
        records = [
            EmbeddingRecord(
                organization=organization,
                embed_id=embed_id,
                created_at=created_at,
                model=model,
                face=face.box,
                shard=shard.key,
                source=face.source,
                external_id=external_id,
                image_key=photo_key,
                generation=generation,
                mentioned_in=list(repeatable.mentioned_in) if repeatable else None,
            )
            for embed_id, face, photo_key in zip(ids, faces, photo_keys)
        ]
        try:
            # A redelivery rewrites the same records: harmless, as ids are live only once committed.
            self.catalog.put_embeddings(records, overwrite=repeatable is not None)
            committed, expired = self._swap(
                organization,
                lambda current: commit_enrollment(
                    current, organization, generation, model, shard, ids, self.clock(), self.max_faces
                ),
            )
        except BaseException as error:
            if self._committed(organization, generation, ids, error):
                return records  # the commit landed; only its reply was lost
            # Known not committed: nothing was visible, so undo. A repeatable enrollment keeps its
            # records and photos: another attempt under the same claim may be about to commit them.
            if repeatable is None:
                self._undo(records, shard)
            else:
                self.shards.purge_shards([shard])
            raise
        if not committed.names(shard.key):
            self.shards.purge_shards([shard])  # another attempt committed these ids with its own shard
        self._tidy(organization, model, committed, expired)
        return records

    def commit_vectors(self, organization: str, model: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Commit vectors alone, as one shard: for loads whose metadata is written apart (the
        search benchmark's). Their ids must be unique in the organization."""
        generation = self._writable(organization).generation
        shard = self.shards.write_shard(organization, generation, model, ids, vectors)
        committed, expired = self._swap(
            organization,
            lambda current: commit_enrollment(current, organization, generation, model, shard, ids.tolist(), self.clock()),
        )
        self._tidy(organization, model, committed, expired)

    def _tidy(self, organization: str, model: str, committed: Manifest, expired: tuple[RetiredBatch, ...]) -> None:
        """After a commit that added a shard: delete what expired with it, and compact when
        there are too many small shards. The commit stands either way: the next commit compacts
        again, and what is left undeleted is named by no manifest, so the sweeper takes it."""
        try:
            self._purge_batches(organization, expired)
            if shards_to_merge(committed.of(model)):
                self.compact(organization, model)
        except Exception:  # noqa: BLE001
            logger.warning("Tidying after a commit deferred", exc_info=True)

    def _purge_batches(self, organization: str, batches: tuple[RetiredBatch, ...]) -> None:
        """Delete expired retirement batches: the shards each lists, but those a duplicate report
        leases (the sweeper deletes them once the lease ends), then the batch itself."""
        if not batches:
            return
        leased = {ref.key for ref in self.leases.leased_shards(organization, self.clock())}
        for batch in batches:
            try:
                self.shards.purge_shards([ref for ref in self.shards.read_batch(batch) if ref.key not in leased])
            except ShardMissing:
                pass  # purged already, by a writer before this one
            self.shards.purge_shards([batch])

    def _committed(self, organization: str, generation: int, ids: list[int], error: BaseException) -> bool:
        """Whether a commit that failed with ``error`` landed anyway; False when known not to."""
        if isinstance(error, PurgedDuringWrite | OrganizationPurging):
            return False
        try:
            manifest = self.shards.read_manifest(organization)
        except Exception:  # noqa: BLE001 - unknown outcome: leave everything, undo nothing
            logger.warning("Enrollment outcome unknown", exc_info=True)
            raise error from None
        return manifest.generation == generation and manifest.committed.covers(ids)

    def _undo(self, records: list[EmbeddingRecord], shard: ShardRef) -> None:
        self.catalog.delete_embeddings(records)
        self.shards.purge_shards([shard])
        self.photos.delete([record.image_key for record in records if record.image_key])

    # Delete

    def delete(self, organization: str, records: list[EmbeddingRecord]) -> None:
        """Erase faces (``erasable`` ones): one commit rewrites the shards holding them without
        them and tombstones their ids; then what names them, their photos and metadata go."""
        ids = {record.embed_id for record in records}
        by_model: dict[str, set[int]] = {}
        for record in records:
            by_model.setdefault(record.model, set()).add(record.embed_id)
        for _ in range(_REWRITE_ATTEMPTS):
            manifest = self._writable(organization)
            try:
                rewrites = {model: self._rewrite_without(organization, manifest, model, wanted) for model, wanted in by_model.items()}
            except ShardMissing:
                continue  # compacted meanwhile: look again
            written = [shard for rewrite in rewrites.values() for shard in rewrite.added]
            try:
                committed, expired = self._swap(
                    organization, lambda current: commit_erasure(current, manifest, ids, rewrites, self.clock())
                )
            except ShardsMoved:
                self.shards.purge_shards(written)
                continue
            self._purge_batches(organization, expired)
            self.forget(organization, records, committed.condemned())
            return
        raise StoreConflict(f"The vectors of {organization!r} kept moving; retry the request.")

    def forget(self, organization: str, records: list[EmbeddingRecord], shards: tuple[ShardRef, ...] = ()) -> None:
        """What follows an erasure's commit (a deletion's, or the sweeper finishing one that
        stopped): delete ``shards`` (the condemned ones), then everything naming the faces. The
        records go last: they name everything else to delete (the claims, stored answers and
        upload records that name these faces, their photos), so a retry after a crash finds it."""
        self.shards.purge_shards(shards)
        self._purge_leased_holding(organization, {record.embed_id for record in records})
        mentions = {sk for record in records for sk in record.mentioned_in or ()}
        self.catalog.delete_items([in_organization(organization, sk) for sk in sorted(mentions)])
        self.photos.delete([r.image_key for r in records if r.image_key])
        self.catalog.delete_embeddings(records)

    def _purge_leased_holding(self, organization: str, erased: set[int]) -> None:
        """Delete the shards leased by duplicate reports that hold an erased face and that no
        manifest names any more (the commit condemned those it names): an erasure outranks a
        report, whose tasks read the faces left from the current manifest instead."""
        leased = [ref for ref in self.leases.leased_shards(organization, self.clock()) if ref.may_hold(erased)]
        if not leased:
            return
        wanted = np.fromiter(erased, np.int64, len(erased))
        held = parallel_map(self._ids_if_present, leased, self.concurrency)
        self.shards.purge_shards([ref for ref, ids in zip(leased, held) if ids is not None and np.isin(ids, wanted).any()])

    def _ids_if_present(self, ref: ShardRef) -> np.ndarray | None:
        try:
            return self.shards.read_shard_ids(ref)
        except ShardMissing:
            return None

    def expire_retirements(self, organization: str) -> None:
        """Forget retired shards past their time, and condemned ones past their hour, in an
        organization nobody writes to (writers do it as they commit); delete what expired."""
        committed, expired = self._swap(organization, lambda current: expire_retirements(current, self.clock()))
        self._purge_batches(organization, expired)
        self.shards.purge_shards(committed.condemned())

    def _rewrite_without(self, organization: str, manifest: Manifest, model: str, wanted: set[int]) -> Rewrite:
        """The shards holding ``wanted`` ids, their replacements written without them, and the
        retired shards holding them (condemned with the live ones). Only shards whose id range
        covers a wanted id are read."""
        current = manifest.of(model)
        wanted_ids = np.fromiter(wanted, np.int64, len(wanted))
        retired = [ref for refs in parallel_map(self.shards.read_batch, current.retired, self.concurrency) for ref in refs]
        candidates = [ref for ref in (*current.shards, *retired) if ref.may_hold(wanted)]
        held = parallel_map(self._ids_or_none, candidates, self.concurrency)
        holding = {ref.key for ref, ids in zip(candidates, held) if ids is not None and np.isin(ids, wanted_ids).any()}
        live = [ref for ref in current.shards if ref.key in holding]
        contents = parallel_map(lambda ref: self.shards.read_shard(ref, self.dimensions), live, self.concurrency)
        replacements = []
        for ids, vectors in contents:
            keep = ~np.isin(ids, wanted_ids)
            if keep.any():
                replacements.append(
                    self.shards.write_shard(organization, manifest.generation, model, ids[keep], vectors[keep])
                )
        retired_holding = [ref for ref in retired if ref.key in holding and ref.key not in current.keys()]
        return Rewrite([ref.key for ref in live], replacements, retired_holding)

    def _ids_or_none(self, ref: ShardRef) -> np.ndarray | None:
        """A shard's ids; None for a retired one already deleted (condemned by an earlier deletion)."""
        try:
            return self.shards.read_shard_ids(ref)
        except ShardMissing:
            if ref.retired_at is None:
                raise  # a live shard gone: compacted meanwhile, look again
            return None

    # Compact

    def compact(self, organization: str, model: str) -> None:
        """Fold small shards into one. The commit only lands if every merged shard is still
        committed, so beside any other writer no vector is lost or held twice. The replaced
        shards are listed in the open retirement batch (a new batch object: the old one's
        entries and theirs), so readers on an older manifest still find them."""
        for _ in range(_REWRITE_ATTEMPTS):
            manifest = self.shards.read_manifest(organization)
            merge = shards_to_merge(manifest.of(model))
            if manifest.state == PURGING or not merge:
                return
            now = self.clock()
            extends = manifest.of(model).open_batch(now)
            try:
                parts = parallel_map(lambda ref: self.shards.read_shard(ref, self.dimensions), merge, self.concurrency)
                listed = self.shards.read_batch(extends) if extends else []
            except ShardMissing:
                continue  # another writer is compacting the same shards
            merged = self.shards.write_shard(
                organization, manifest.generation, model,
                np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            )
            batch = self.shards.write_batch(
                organization, manifest.generation, model,
                listed + [replace(ref, retired_at=now) for ref in merge],
                extends.opened_at if extends else now,
            )
            replaced = {ref.key for ref in merge}
            try:
                _, expired = self._swap(
                    organization,
                    lambda current: commit_merge(current, manifest, model, merged, replaced, batch, extends, now),
                )
            except ShardsMoved:
                self.shards.purge_shards([merged, batch])
                continue
            self._purge_batches(organization, expired)
            if extends:
                self.shards.purge_shards([extends])  # the batch object only: the new one lists its shards
            return

    # The commit point

    def _writable(self, organization: str) -> Manifest:
        """The manifest a write starts from. While a purge runs the write waits (409); a purge
        interrupted (past its lease) gets one bounded step from the write, which goes on once
        that step finished it. A write never runs a whole large purge."""
        manifest = self.shards.read_manifest(organization)
        if manifest.state == PURGING:
            if not manifest.purge_interrupted(self.clock()) or not self.purges.resume(organization):
                raise OrganizationPurging(organization)
            manifest = self.shards.read_manifest(organization)
        return manifest

    def _swap(self, organization: str, change: Change) -> tuple[Manifest, tuple[RetiredBatch, ...]]:
        """Apply ``change`` to the current manifest by compare-and-swap, reading again after
        every lost race. ``change`` returns None when the manifest already has the change (a
        replay, or a reply lost after the write landed): then nothing is written."""
        for attempt in range(_SWAP_ATTEMPTS):
            current = self.shards.read_manifest(organization)
            result = change(current)
            if result is None:
                return current, ()
            updated, expired = result
            try:
                etag = self.shards.swap_manifest(organization, current, updated)
            except ManifestConflict:
                # Full jitter keeps racing writers from colliding again in lockstep.
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
                continue
            return replace(updated, etag=etag), expired
        raise StoreConflict(f"Too many concurrent writers for organization {organization!r}; retry the request.")


def timestamp(seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as S3 events write times: 2026-11-30T12:00:00.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"
