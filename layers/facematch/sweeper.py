"""The sweeper: what failures and crashes leave behind, gone within a bound (docs/erasure.md).

A writer that dies part-way leaves only what no reader can reach (docs/write-protocol.md): a
shard no manifest names, a photo or metadata of an id never committed, the tail of a deletion
(its commit landed; the records, photos and stored answers naming the faces not yet deleted),
retired shards whose deletion failed. It also leaves items past their TTL, which DynamoDB
deletes only within days. The sweeper walks every organization and removes all of these:

- an object no manifest needs, once it is older than RETIREMENT_SECONDS: no writer runs that
  long (the functions' timeout is 25 s), so nothing can commit it any more. A shard a duplicate
  report leases is needed until the lease ends; a report's objects, while the report is under
  way or done and unexpired (its plan and groups);
- items of erased faces (it finishes their deletion), of ids never committed once older than
  that, upload records and stored answers naming an erased face, and expired items.

It deletes an item only if it did not change since it was read, and an object version only as
listed, so beside any writer it never removes what that writer is about to commit. It works in
bounded steps (a deadline), and the cursor it returns resumes it where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from facematch.catalog import embedding_record
from facematch.jobs import Deadline, JobStep
from facematch.manifest import ACTIVE, RETIREMENT_SECONDS, Manifest
from facematch.reports import CANCELLED, DONE, FAILED
from facematch.shards import ShardMissing, StoredVersion, generation_prefix, manifest_key, organization_prefix
from facematch.table import (
    ANSWER_PREFIXES,
    API_KEY_PREFIX,
    CLAIM_PREFIX,
    COUNTER,
    EMBEDDING_PREFIX,
    PERSON_PREFIX,
    UPLOAD_RECORD_PREFIX,
)
from facematch.writes import Writes

_KEPT_ITEMS = (COUNTER, API_KEY_PREFIX)
KIND = "sweep"
# A sweep job's organization: it walks every one.
EVERY_ORGANIZATION = "*"
# What a done report keeps until it expires.
DONE_REPORT_OBJECTS = frozenset({"plan.json", "groups.json"})


@dataclass(frozen=True)
class SweepCursor:
    """Where a sweep stopped: the organization, then its objects (after a key) or its items."""

    organization: str | None = None
    phase: str = "objects"
    after: str | None = None
    start_key: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"organization": self.organization, "phase": self.phase, "after": self.after, "start_key": self.start_key}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepCursor:
        return cls(data.get("organization"), data.get("phase", "objects"), data.get("after"), data.get("start_key"))


@dataclass
class SweepCounts:
    organizations: int = 0
    objects: int = 0  # object versions deleted
    items: int = 0  # items deleted
    faces_forgotten: int = 0  # erased faces whose deletion the sweeper finished
    by_kind: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, number: int = 1) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + number


class Sweeper:
    def __init__(self, writes: Writes) -> None:
        self.writes = writes
        self.shards = writes.shards
        self.catalog = writes.catalog
        self.clock = writes.clock
        self.reports = writes.leases

    def step(self, cursor: SweepCursor | None, stop: Callable[[], bool]) -> tuple[SweepCursor | None, SweepCounts]:
        """Sweep from ``cursor``, a page at a time, until every organization is swept (returns
        None) or ``stop()`` says so (returns where to resume)."""
        counts = SweepCounts()
        cursor = cursor or self._next(None)
        while cursor is not None:
            if stop():
                return cursor, counts
            cursor = self._advance(cursor, counts)
        return None, counts

    def job_step(self, _organization: str, deadline: Deadline, cursor: dict[str, Any] | None) -> JobStep:
        """One step of the ``sweep`` long job: at least one page, then until ``deadline``."""
        pages = iter([False])
        start = SweepCursor.from_json(cursor) if cursor else None
        resume, counts = self.step(start, stop=lambda: next(pages, None) is None and deadline.passed())
        done = {
            "organizations": counts.organizations,
            "deleted_objects": counts.objects,
            "deleted_items": counts.items,
            "faces_forgotten": counts.faces_forgotten,
        }
        return JobStep(resume is None, done, resume.to_json() if resume else None)

    def sweep_organization(self, organization: str) -> SweepCounts:
        """One organization, in one go (tests, and an operator's look at one organization)."""
        counts, cursor = SweepCounts(), SweepCursor(organization)
        while cursor is not None and cursor.organization == organization:
            cursor = self._advance(cursor, counts)
        return counts

    def sweep_all(self) -> SweepCounts:
        """Every organization, in one go (tests; the job runs it in steps)."""
        _, counts = self.step(None, stop=lambda: False)
        return counts

    def _next(self, after: str | None) -> SweepCursor | None:
        following = self.shards.organizations(after, limit=1)
        return SweepCursor(following[0]) if following else None

    def _advance(self, cursor: SweepCursor, counts: SweepCounts) -> SweepCursor | None:
        """One page of work; the cursor after it."""
        organization = cursor.organization
        manifest = self.shards.read_manifest(organization)
        if manifest.state != ACTIVE:
            return self._next(organization)  # a purge (or its job) owns it; a purged one holds nothing
        if cursor.phase == "objects":
            if cursor.after is None:
                counts.organizations += 1
                self.writes.expire_retirements(organization)
                manifest = self.shards.read_manifest(organization)
            page = next(self.shards.versions(organization_prefix(organization), cursor.after), [])
            self._sweep_objects(organization, manifest, page, counts)
            if len(page) < 1000:
                return replace(cursor, phase="items", after=None)
            return replace(cursor, after=page[-1].key)
        items, start_key = self.catalog.organization_items(organization, cursor.start_key)
        self._sweep_items(organization, manifest, items, counts)
        return replace(cursor, start_key=start_key) if start_key else self._next(organization)

    def _sweep_objects(
        self, organization: str, manifest: Manifest, page: list[StoredVersion], counts: SweepCounts
    ) -> None:
        cutoff = self.clock() - RETIREMENT_SECONDS
        current = generation_prefix(organization, manifest.generation)
        try:  # the shards the retirement batches list are named too: readers may still need them
            listed = {ref.key for shards in manifest.models.values() for b in shards.retired for ref in self.shards.read_batch(b)}
        except ShardMissing:
            return  # a compaction replaced a batch since the manifest was read: the next sweep sees it
        leased = {ref.key for ref in self.reports.leased_shards(organization, self.clock())}
        kept_reports: dict[str, frozenset[str] | None] = {}
        doomed: list[StoredVersion] = []
        for version in page:
            key = version.key
            if key == manifest_key(organization):
                continue
            if version.delete_marker:
                doomed.append(version)  # holds nothing; leaves the listing clean
                counts.count("delete_markers")
            elif version.last_modified >= cutoff:
                continue  # a writer may still commit it
            elif not key.startswith(current):
                doomed.append(version)
                counts.count("older_generation_objects")
            elif key.startswith(f"{current}models/"):
                if not (manifest.names(key) or key in listed or key in leased):
                    doomed.append(version)
                    counts.count("orphan_shards")
            elif key.startswith(f"{current}reports/"):
                report_id, _, name = key[len(f"{current}reports/"):].partition("/")
                if report_id not in kept_reports:
                    kept_reports[report_id] = self._report_objects_kept(organization, report_id)
                kept = kept_reports[report_id]
                if kept is not None and name not in kept:
                    doomed.append(version)
                    counts.count("report_objects")
            elif key.startswith(f"{current}images/"):
                embed_id = key.rsplit("/", 1)[-1]
                if not (embed_id.isdigit() and manifest.is_live(int(embed_id))):
                    doomed.append(version)
                    counts.count("orphan_photos")
        self.shards.delete_versions(doomed)
        counts.objects += len(doomed)

    def _report_objects_kept(self, organization: str, report_id: str) -> frozenset[str] | None:
        """Which of a report's objects are kept: all (None) while it is under way, its plan and
        groups once done, none once it failed, was cancelled or expired."""
        record = self.reports.get(organization, report_id, self.clock())
        if record is None or record.state in (FAILED, CANCELLED):
            return frozenset()
        return DONE_REPORT_OBJECTS if record.state == DONE else None

    def _sweep_items(self, organization: str, manifest: Manifest, items: list[dict[str, Any]], counts: SweepCounts) -> None:
        now = self.clock()
        cutoff = now - RETIREMENT_SECONDS
        erased_faces = {}
        for item in items:
            sk = item["sk"]
            if sk.startswith(_KEPT_ITEMS):
                continue
            if "expiration" in item and item["expiration"] < now:
                self._delete(item, "expiration", "expired_items", counts)
            elif sk.startswith((EMBEDDING_PREFIX, PERSON_PREFIX)):
                record = embedding_record(item)
                if record.generation == manifest.generation and record.embed_id in manifest.erased:
                    erased_faces[record.embed_id] = record
                elif not manifest.is_live(record.embed_id) and _epoch_of(record.created_at) < cutoff:
                    self._delete(item, "created_at", "uncommitted_metadata", counts)
            elif sk.startswith(UPLOAD_RECORD_PREFIX):
                if item.get("embed_id") is not None and not manifest.is_live(item["embed_id"]):
                    self._delete(item, "received_at", "upload_records_of_erased_faces", counts)
            elif sk.startswith(CLAIM_PREFIX):
                claimed = item.get("embed_ids", [])
                gone = item.get("generation") != manifest.generation or (
                    manifest.committed.covers(claimed) and not any(manifest.is_live(i) for i in claimed)
                )
                if gone:
                    self._delete(item, "generation", "claims_of_erased_faces", counts)
            elif sk.startswith(ANSWER_PREFIXES):
                named = _answer_ids(item)
                if named and not all(manifest.is_live(i) for i in named):
                    self._delete(item, "fingerprint", "answers_naming_erased_faces", counts)
        if erased_faces:
            self.writes.forget(organization, list(erased_faces.values()))
            counts.faces_forgotten += len(erased_faces)

    def _delete(self, item: dict[str, Any], unchanged: str, kind: str, counts: SweepCounts) -> None:
        if self.catalog.delete_unchanged(item, unchanged):
            counts.items += 1
            counts.count(kind)


def _answer_ids(item: dict[str, Any]) -> list[int]:
    """The embed_ids a stored answer names: an enrollment's (``embeddings``), an upload's."""
    if item.get("state") != "done":
        return []
    body = json.loads(item.get("body", "{}"))
    if not isinstance(body, dict):
        return []
    ids = [e["embed_id"] for e in body.get("embeddings", []) if isinstance(e, dict) and "embed_id" in e]
    return ids + ([body["embed_id"]] if isinstance(body.get("embed_id"), int) else [])


def _epoch_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
