"""Purging an organization, in bounded steps (docs/write-protocol.md, "Purge an organization").

``begin`` revokes the organization's API keys and commits ``purging`` under a new generation,
or joins the purge under way: from then on nothing of the organization is readable, and nothing
begun before can commit. Each ``step`` deletes, page by page until its deadline, every object
version of older generations and of the upload inbox, then every item of older generations but
the id counter; the step that finds nothing left commits ``purged``. A step works only from what
the stores hold, so steps may run again, in any process, or two at once: the purge request runs
the first ones, and the ``purge`` long job (jobs.py) the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from aws_lambda_powertools import Logger

from facematch.catalog import Catalog
from facematch.inputs import UPLOAD_PREFIX
from facematch.jobs import Deadline, Jobs, JobStep
from facematch.key_store import ApiKeys
from facematch.manifest import PURGING, Manifest, RetiredBatch
from facematch.manifest_changes import Change, begin_purge, finish_purge
from facematch.models import BackupCopy
from facematch.shards import ShardStore, organization_prefix

logger = Logger()

KIND = "purge"
# What outlives a purge, and for how long after it: the bucket's lifecycle rule expires
# noncurrent versions after this many days (template.yaml, ExpireOldVersions), and DynamoDB's
# point-in-time recovery can restore the table as it was up to 35 days back.
S3_NONCURRENT_DAYS = 30
PITR_DAYS = 35

Swap = Callable[[str, Change], "tuple[Manifest, tuple[RetiredBatch, ...]]"]


def older_generation(organization: str, generation: int) -> Callable[[str], bool]:
    """Whether a key of the organization belongs to a generation before ``generation``: never the
    manifest, never that generation or a later one, so a purge step that runs late cannot
    delete what was enrolled after its purge."""
    pattern = re.compile(re.escape(organization_prefix(organization)) + r"g(\d+)/")

    def deletable(key: str) -> bool:
        match = pattern.match(key)
        return match is not None and int(match.group(1)) < generation

    return deletable


def backups(finished_at: float) -> list[BackupCopy]:
    """What backups still hold of a purge finished at ``finished_at``, and until when."""
    done = datetime.fromtimestamp(finished_at, timezone.utc)

    def until(days: int) -> str:
        return (done + timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return [
        BackupCopy(
            store="s3-noncurrent-versions",
            holds="Earlier versions of the organization's manifest (embed_id ranges and shard names; "
            "no vectors, photos or labels), expired by the bucket's lifecycle rule.",
            until=until(S3_NONCURRENT_DAYS),
        ),
        BackupCopy(
            store="dynamodb-point-in-time-recovery",
            holds="The deleted items (embedding metadata: labels, face boxes, source names; upload "
            "records; stored answers, with vectors where include_embedding was asked; key hashes), "
            "restorable from the table's continuous backups.",
            until=until(PITR_DAYS),
        ),
    ]


class Purges:
    def __init__(
        self,
        catalog: Catalog,
        shards: ShardStore,
        swap: Swap,
        clock: Callable[[], float],
        jobs: Jobs | None,
        resume_seconds: float,
    ) -> None:
        """``swap`` commits a manifest change (Writes' compare-and-swap); ``jobs`` takes the rest of
        an interrupted purge that a write resumed, ``resume_seconds`` being that write's share."""
        self.catalog = catalog
        self.shards = shards
        self.swap = swap
        self.clock = clock
        self.jobs = jobs
        self.resume_seconds = resume_seconds

    def begin(self, organization: str) -> None:
        """Revoke the organization's API keys, then commit ``purging`` (a purge under way is joined)."""
        now = self.clock()
        self.catalog.delete_items(ApiKeys(self.catalog.table_name).lookup_keys_of(organization))
        self.swap(organization, lambda current: begin_purge(current, now))

    def step(self, organization: str, deadline: Deadline, cursor: dict | None = None) -> JobStep:
        """Delete what the purge under way still has to, page by page, until ``deadline`` (and
        at least one page that deletes something); done once it found nothing left and
        committed ``purged``, or when no purge is under way (another run finished it). No
        ``cursor``: every step starts over from what the stores hold."""
        manifest = self.shards.read_manifest(organization)
        if manifest.state != PURGING:
            return JobStep(done=True)
        generation = manifest.generation
        pages = (
            ("deleted_objects", lambda start: self.shards.delete_versions_page(
                organization_prefix(organization), older_generation(organization, generation), start)),
            ("deleted_objects", lambda start: self.shards.delete_versions_page(
                f"{UPLOAD_PREFIX}{organization}/", lambda _key: True, start)),
            ("deleted_items", lambda start: self.catalog.purge_page(
                organization, before_generation=generation, start_key=start)),
        )
        counts = {"deleted_objects": 0, "deleted_items": 0}
        for counted, page in pages:
            more, start = True, None
            while more:
                # Stop only once this step deleted something: every step starts over from the
                # first page, so one that stopped after pages of kept objects (the manifest's
                # versions) would never reach what is left beyond them.
                if any(counts.values()) and deadline.passed():
                    return JobStep(False, counts)
                deleted, more, start = page(start)
                counts[counted] += deleted
        self.swap(organization, lambda current: finish_purge(current, generation, self.clock()))
        return JobStep(True, counts)

    def resume(self, organization: str) -> bool:
        """For a write that found a purge interrupted (past its lease): one bounded step. True once
        the purge is done; else the purge job is sent again (the one under way may be lost) and
        the write must wait."""
        logger.warning("Resuming an interrupted purge", extra={"organization": organization})
        step = self.step(organization, Deadline.after(self.resume_seconds))
        if step.done:
            return True
        if self.jobs is not None:
            self.jobs.submit(KIND, organization, {**step.counts, "steps": 1})
        return False
