"""One organization under test for the write protocol: its operations, a model of what it
should hold, and the five invariants, checked through the service as callers see it.

The faces come from the stub face networks (``stub_faces``), embedded once. Operations call the
service and the write module directly (no HTTP), so thousands of interleavings run in seconds.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import EmbeddingNotFound, FaceMatchError, OrganizationNotFound, OrganizationPurging
from facematch.inputs import ImageInput
from facematch.manifest import PURGE_LEASE_SECONDS, PURGING
from facematch.models import Deletion
from facematch.shards import ShardStore
from facematch.wiring import FaceMatch
from facematch.writes import NewFace
from facematch_testing.events import OPERATOR
from facematch_testing.stub_faces import stub_embedder
from facematch_testing.synthetic import synthetic_photo

PEOPLE = ("ann", "bob", "cat", "dan")
VARIANTS = 3
THRESHOLD = 0.07  # the stub's faces of one person are a few thousandths apart, of two about 1


class Violation(AssertionError):
    pass


@functools.cache
def face(person: str, variant: int) -> tuple[np.ndarray, dict[str, int]]:
    """The stub embedding of one generated photo, computed once per test process."""
    service = _embedding_service()
    embedded = service.enrollment.embed(ImageInput(f"{person}-{variant}.jpg", synthetic_photo(person, variant, size=(160, 120))))
    return embedded.vector, vars(embedded.box)


@functools.cache
def _embedding_service() -> FaceMatch:
    # A purge, and a write finding one interrupted, run it to its end: the checks need it ended,
    # and a step that stops on a clock would make a case depend on the machine's speed.
    settings = Settings(
        bucket=os.environ["FACEMATCH_BUCKET"], table=os.environ["FACEMATCH_TABLE"], purge_request_seconds=math.inf
    )
    return FaceMatch(settings, stub_embedder(settings), Catalog(settings.table), ShardStore(settings.bucket))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@dataclass
class World:
    organization: str
    clock: Clock = field(default_factory=Clock)
    # What the model knows: which photo each id was enrolled from, ids that must be held, and
    # ids that must never be seen again.
    faces: dict[int, str] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    gone: set[int] = field(default_factory=set)
    # Bumped by every purge and deletion: an enrollment that overlapped one may have been
    # erased by it after its commit, so its answer no longer says whether it is held.
    erasures: int = 0

    def __post_init__(self) -> None:
        self.service = self.new_service()

    def new_service(self) -> FaceMatch:
        """A service as a freshly started process has it: no warm vectors."""
        base = _embedding_service()
        return FaceMatch(base.settings, base.embedder, Catalog(base.settings.table), ShardStore(base.settings.bucket), self.clock)

    # Operations: each does what a caller would, and tells the model what its answer means.

    def enroll(self, person: str, variant: int, service: FaceMatch | None = None) -> list[int]:
        """Enroll one photo (through ``service``: another process's, else this world's)."""
        vector, box = face(person, variant)
        erasures = self.erasures
        records = (service or self.service).writes.enroll(
            self.organization, self.service.settings.model, [NewFace(vector, box, f"{person}/{variant}")], person
        )
        ids = [record.embed_id for record in records]
        for embed_id in ids:
            if embed_id in self.faces:
                raise Violation(f"id {embed_id} was handed out twice")
            self.learn(embed_id, f"{person}/{variant}")
        if erasures == self.erasures:
            self.held.update(ids)
        return ids

    def delete_id(self, embed_id: int) -> list[int]:
        return self._erase({embed_id}, lambda: self.service.holdings.delete_embedding(self.organization, embed_id, OPERATOR))

    def delete_person(self, person: str) -> list[int]:
        of_person = {embed_id for embed_id, photo in self.faces.items() if photo.startswith(f"{person}/")}
        return self._erase(of_person, lambda: self.service.holdings.delete_person(self.organization, person, OPERATOR))

    def _erase(self, targets: set[int], delete: Callable[[], Deletion]) -> list[int]:
        # Until the deletion answers, its targets may be held or not (the check settles it).
        self.erasures += 1
        self.held -= targets
        deleted = [e.embed_id for e in delete().deleted]
        self.forget(deleted)
        return deleted

    def purge(self) -> None:
        before = set(self.faces)
        self.erasures += 1
        try:
            self.service.holdings.purge_organization(self.organization, OPERATOR)
            self.forget(before)
        finally:
            # Faces enrolled while it ran may have been purged or not (the check settles it).
            self.held -= set(self.faces)

    def compact(self) -> None:
        self.service.writes.compact(self.organization, self.service.settings.model)

    def newest_id(self) -> int:
        """The last id handed out, committed or not: what a caller guessing ids would try."""
        item = client("dynamodb").get_item(
            TableName=self.service.settings.table,
            Key={"pk": {"S": f"ORG#{self.organization}"}, "sk": {"S": "COUNTER"}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["last_id"]["N"]) if item else 1

    def oldest_id(self) -> int:
        return min(self.listed(self.service), default=1)

    def forget(self, ids: set[int] | list[int]) -> None:
        self.held -= set(ids)
        self.gone |= set(ids)

    def learn(self, embed_id: int, photo: str) -> None:
        """Invariant 3: an id names one face forever."""
        if self.faces.setdefault(embed_id, photo) != photo:
            raise Violation(f"id {embed_id} named {self.faces[embed_id]} and now {photo}")

    # The invariants

    def listed(self, service: FaceMatch) -> set[int]:
        ids, token = set(), None
        while True:
            page = service.holdings.list_embeddings(self.organization, limit=100, next_token=token)
            ids |= {e.embed_id for e in page.embeddings}
            token = page.next_token
            if not token:
                return ids

    def check(self) -> None:
        """Every invariant, through a warm reader and a cold one. Run while no operation is in
        flight: then a known face that is not listed is gone, and must never come back."""
        try:
            listed = self._check_reader(self.service)
            if (cold := self._check_reader(self.new_service())) != listed:
                raise Violation(f"a warm reader lists {sorted(listed)}, a cold one {sorted(cold)}")
        except FaceMatchError as error:
            raise Violation(f"a reader failed: {error!r}") from error
        self._check_storage(listed)
        self.gone |= set(self.faces) - listed

    def _check_reader(self, service: FaceMatch) -> set[int]:
        try:
            listed = self.listed(service)
        except OrganizationPurging:  # a purge under way: nothing may be seen, and nothing is
            if self.held or self._matches(service, face(PEOPLE[0], 0)[0]) != "purging":
                raise Violation("the organization answers 'purging' to some readers only") from None
            return set()
        for embed_id in listed:
            stored = service.holdings.get_embedding(self.organization, embed_id)
            self.learn(embed_id, stored.source)
        if listed & self.gone:
            raise Violation(f"deleted or purged ids are listed: {sorted(listed & self.gone)}")
        for embed_id in self.gone:
            try:
                service.holdings.get_embedding(self.organization, embed_id)
            except EmbeddingNotFound:
                continue
            raise Violation(f"deleted id {embed_id} is fetchable")
        if not self.held <= listed:
            raise Violation(f"enrolled ids are lost: {sorted(self.held - listed)}")
        found: set[int] = set()
        for number, person in enumerate(PEOPLE):
            # top_k covers the whole organization: every probe sees every face.
            for match in self._matches(service, face(person, 0)[0], revalidate=number == 0):
                if match.embed_id not in listed:
                    raise Violation(f"compare returned id {match.embed_id}, which is not listed")
                if match.external_id != self.faces[match.embed_id].split("/")[0]:
                    raise Violation(f"id {match.embed_id} of {self.faces[match.embed_id]} answered as {match.external_id}")
                if match.distance <= THRESHOLD and match.external_id != person:
                    raise Violation(f"a photo of {person} was answered as {match.external_id}")
                found.add(match.embed_id)
        if found != listed:
            raise Violation(f"listed but never found by compare: {sorted(listed - found)}")
        return listed

    def _matches(self, service: FaceMatch, vector: np.ndarray, *, revalidate: bool = True) -> list | str:
        try:
            return service.matching.match(self.organization, vector, 100, THRESHOLD, revalidate=revalidate)
        except OrganizationNotFound:
            return []
        except OrganizationPurging:
            return "purging"

    def _check_storage(self, listed: set[int]) -> None:
        """Invariant 4: no vector is held twice; and every vector held is live and listed, so an
        API can fetch and delete it."""
        store = self.service.shards
        manifest = store.read_manifest(self.organization)
        if manifest.state == PURGING:
            return  # no reader reads its shards; the purge deletes them
        for model, shards in manifest.models.items():
            held = np.concatenate([store.read_shard_ids(ref) for ref in shards.shards] or [np.empty(0, np.int64)])
            if len(held) != len(set(held.tolist())):
                raise Violation(f"{model} vectors held twice: {sorted(held.tolist())}")
            for embed_id in held.tolist():
                if not manifest.is_live(embed_id) or embed_id not in listed:
                    raise Violation(f"id {embed_id} is held, but no API can fetch or delete it")

    def check_usable(self) -> None:
        """Invariant 5: once writers stop (and any lease they held ran out), the organization
        takes an enrollment and answers with it."""
        self.clock.now += PURGE_LEASE_SECONDS + 1
        try:
            (embed_id,) = self.enroll("dan", 0)
            matches = self._matches(self.service, face("dan", 0)[0])
        except FaceMatchError as error:
            raise Violation(f"the organization stays unusable: {error!r}") from error
        if not matches or matches[0].embed_id != embed_id:
            raise Violation(f"a fresh enrollment is not found: {matches}")


Operation = Callable[[World], object]
