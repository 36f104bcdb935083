"""Use case: what an organization holds, and erasing it: a face, a person, or everything; each
erasure recorded in the audit trail before it starts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from facematch.audit import Action, Actor, AuditTrail
from facematch.catalog import Catalog, EmbeddingRecord
from facematch.config import Settings
from facematch.errors import EmbeddingNotFound
from facematch.jobs import Deadline, Jobs, step_seconds
from facematch.models import Deletion, EmbeddingPage, Face, Person, PersonPage, Purge, StoredEmbedding
from facematch.page_tokens import PageTokens
from facematch.purges import KIND as PURGE
from facematch.purges import backups as purge_backups
from facematch.search import VectorStore
from facematch.writes import Writes, timestamp

# The listing a persons page token is signed for: no external_id holds '#', so it never
# collides with one person's embeddings listing.
PERSONS_LISTING = "#persons"


def stored(record: EmbeddingRecord) -> StoredEmbedding:
    return StoredEmbedding(
        embed_id=record.embed_id,
        organization=record.organization,
        created_at=record.created_at,
        model=record.model,
        face=Face(**record.face),
        source=record.source,
        external_id=record.external_id,
        image_stored=record.image_key is not None,
    )


class Holdings:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        writes: Writes,
        vectors: VectorStore,
        jobs: Jobs,
        audit: AuditTrail,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.writes = writes
        self.vectors = vectors
        self.jobs = jobs
        self.audit = audit
        self.clock = clock
        self.page_tokens = PageTokens(settings)

    def list_embeddings(
        self, organization: str, *, limit: int = 50, next_token: str | None = None, external_id: str | None = None
    ) -> EmbeddingPage:
        start_key = self.page_tokens.start_key(next_token, organization, external_id)
        records, last_key = self.catalog.list_embeddings(
            organization, limit=limit, start_key=start_key, external_id=external_id
        )
        return EmbeddingPage(
            organization=organization,
            embeddings=[stored(r) for r in self.writes.live(organization, records)],
            next_token=self.page_tokens.issue(last_key, organization, external_id),
        )

    def list_persons(self, organization: str, *, limit: int = 50, next_token: str | None = None) -> PersonPage:
        """The organization's persons (external_id), a page at a time: how many faces each has
        now, and when the first and last were enrolled."""
        start_key = self.page_tokens.start_key(next_token, organization, PERSONS_LISTING)
        pages, last_key = self.catalog.persons_page(organization, limit=limit, start_key=start_key)
        persons = []
        for records in pages:
            live = self.writes.live(organization, records)
            if live:  # a person whose faces are all in flight or erased is nobody yet
                enrolled = sorted(record.created_at for record in live)
                persons.append(
                    Person(
                        external_id=live[0].external_id, faces=len(live),
                        first_enrolled_at=enrolled[0], last_enrolled_at=enrolled[-1],
                    )
                )
        return PersonPage(
            organization=organization,
            persons=persons,
            next_token=self.page_tokens.issue(last_key, organization, PERSONS_LISTING),
        )

    def get_embedding(self, organization: str, embed_id: int) -> StoredEmbedding:
        record = self.catalog.get_embedding(organization, embed_id)
        if record is None or not self.writes.live(organization, [record]):
            raise EmbeddingNotFound(f"Organization {organization!r} has no embedding {embed_id}.")
        return stored(record)

    def delete_embedding(self, organization: str, embed_id: int, actor: Actor) -> Deletion:
        record = self.catalog.get_embedding(organization, embed_id)
        records = self.writes.erasable(organization, [record] if record else [])
        if not records:
            raise EmbeddingNotFound(f"Organization {organization!r} has no embedding {embed_id}.")
        return self._delete(organization, records, "embedding.deleted", actor)

    def delete_person(self, organization: str, external_id: str, actor: Actor) -> Deletion:
        """Delete every embedding labelled with ``external_id``: one person's right to erasure."""
        records = self.writes.erasable(organization, self.catalog.embeddings_of(organization, external_id))
        if not records:
            raise EmbeddingNotFound(f"Organization {organization!r} has no embedding labelled {external_id!r}.")
        return self._delete(organization, records, "person.deleted", actor)

    def purge_organization(
        self, organization: str, actor: Actor, *, time_left: float = math.inf, api_base: str = ""
    ) -> Purge:
        """Delete everything of an organization: vectors, photos, uploads, metadata, keys.

        Every object version goes too. Its embed_ids are never handed out again. Its keys are
        revoked and it reads as purging at once; the request works on the rest for
        ``purge_request_seconds`` (within ``time_left``, the seconds its invocation has left),
        and hands what is left to a job, whose status is at ``<api_base>/api/jobs/<job_id>``."""
        purges = self.writes.purges
        held = self.writes.shards.read_manifest(organization).faces()
        self.audit.add(organization, "organization.purged", actor, faces=held)
        purges.begin(organization)
        self.vectors.forget(organization)
        settings = self.settings
        seconds = step_seconds(settings.purge_request_seconds, time_left, settings.job_margin_seconds)
        step = purges.step(organization, Deadline.after(seconds))
        counts = {name: step.counts.get(name, 0) for name in ("deleted_items", "deleted_objects")}
        if step.done:
            finished_at = self.clock()
            return Purge(
                organization=organization, status="purged", **counts,
                finished_at=timestamp(finished_at), backups=purge_backups(finished_at),
            )
        job = self.jobs.submit(PURGE, organization, {**counts, "steps": 1})
        return Purge(
            organization=organization, status="purging", **counts,
            job_id=job.job_id, status_url=f"{api_base}/api/jobs/{job.job_id}",
        )

    def _delete(self, organization: str, records: list[EmbeddingRecord], action: Action, actor: Actor) -> Deletion:
        self.audit.add(organization, action, actor, embed_ids=sorted(record.embed_id for record in records))
        self.writes.delete(organization, records)
        return Deletion(organization=organization, deleted=[stored(r) for r in records])
