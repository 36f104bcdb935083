"""FaceMatch's use cases: enroll photos, find who a photo shows, and manage what is held."""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
from aws_lambda_powertools import Logger

from facematch import __version__
from facematch.aws import client
from facematch.catalog import Catalog, EmbeddingRecord
from facematch.config import Settings, get_settings
from facematch.errors import (
    EmbeddingNotFound,
    FaceMatchError,
    ImageTooLarge,
    InvalidImage,
    InvalidRequest,
    NothingEnrolled,
    OrganizationNotFound,
    UnsupportedImageFormat,
)
from facematch.faces import EmbeddedFace, FaceEmbedder
from facematch.idempotency import Repeatable
from facematch.images import decode_image
from facematch.job_store import JobQueue, JobRecords
from facematch.jobs import Deadline, Jobs, step_seconds
from facematch.keys import ApiKeys
from facematch.models import (
    ApiKey,
    ComparisonResult,
    Deletion,
    Embedding,
    EmbeddingPage,
    EnrollmentResult,
    Face,
    FailedImage,
    Health,
    Job,
    Match,
    PresignedUpload,
    Purge,
    RevokedKey,
    StoredEmbedding,
    validate_external_id,
    validate_organization,
)
from facematch.page_tokens import PageTokens
from facematch.purges import KIND as PURGE
from facematch.purges import backups as purge_backups
from facematch.search import VectorStore
from facematch.shards import ShardStore
from facematch.sweeper import EVERY_ORGANIZATION, Sweeper
from facematch.sweeper import KIND as SWEEP
from facematch.uploads import (
    PRESIGNED_URL_SECONDS,
    UPLOAD_CONTENT_TYPES,
    UPLOAD_PREFIX,
    presign_upload,
)
from facematch.writes import NewFace, Writes, timestamp

logger = Logger()
MAX_TOP_K = 100


@dataclass(frozen=True)
class ImageInput:
    """One photo of a request: raw bytes, or base64 text from a JSON body."""

    name: str
    data: bytes | str

    def raw_bytes(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidImage("The image is not valid base64.") from error


def _stored(record: EmbeddingRecord) -> StoredEmbedding:
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


class FaceMatchService:
    """Built once per process (at Lambda init): the model load is what a cold start pays for."""

    def __init__(
        self,
        settings: Settings,
        embedder: FaceEmbedder,
        catalog: Catalog,
        store: ShardStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.catalog = catalog
        self.shards = store
        self.clock = clock
        self.vectors = VectorStore(store, embedder.dimensions, settings.shard_load_concurrency, clock)
        self.jobs = Jobs(JobRecords(catalog.table_name), JobQueue(settings.job_queue_url), clock)
        self.writes = Writes(
            catalog, store, embedder.dimensions, settings.shard_load_concurrency, clock,
            jobs=self.jobs, purge_step_seconds=settings.purge_request_seconds,
        )
        self.jobs.register(PURGE, self.writes.purges.step)
        self.jobs.register(SWEEP, Sweeper(self.writes).job_step)
        self.keys = ApiKeys(catalog)
        self.page_tokens = PageTokens(settings)
        # Brings the organization's vectors up to date while the query photo is being embedded.
        self._background = ThreadPoolExecutor(max_workers=1)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FaceMatchService:
        """The service with its model and AWS clients built now (Lambda's init), not per request."""
        settings = settings or get_settings()
        embedder = FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
        for service_name in ("s3", "dynamodb"):
            client(service_name)
        return cls(settings, embedder, Catalog(settings.table), ShardStore(settings.bucket))

    def health(self) -> Health:
        return Health(
            status="ok",
            model=self.settings.model,
            detector=self.settings.detector,
            version=__version__,
        )

    # Enrollment

    def enroll(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        include_embedding: bool = False,
        external_id: str | None = None,
        max_image_bytes: int | None = None,
        repeatable: Repeatable | None = None,
    ) -> EnrollmentResult:
        validate_organization(organization)
        validate_external_id(external_id)
        if not images:
            raise InvalidRequest("At least one image is required.")
        if len(images) > self.settings.max_images_per_request:
            raise InvalidRequest(
                f"At most {self.settings.max_images_per_request} images per request; "
                f"got {len(images)}."
            )
        faces: list[tuple[ImageInput, EmbeddedFace]] = []
        failures: list[tuple[str, FaceMatchError]] = []
        for image in images:
            try:
                faces.append((image, self.embed(image, max_bytes=max_image_bytes)))
            except FaceMatchError as error:
                failures.append((image.name, error))
        if not faces:
            raise NothingEnrolled(failures)
        failed = [FailedImage(image=name, error=error.to_dict()) for name, error in failures]
        records = self.writes.enroll(
            organization,
            self.settings.model,
            [
                NewFace(
                    vector=face.vector,
                    box=vars(face.box),
                    source=image.name,
                    photo=image.raw_bytes() if self.settings.store_images else None,
                )
                for image, face in faces
            ],
            external_id,
            repeatable=repeatable,
        )
        embeddings = [
            Embedding(
                embed_id=record.embed_id,
                organization=organization,
                created_at=record.created_at,
                face=Face(**record.face),
                model=record.model,
                image=image.name,
                faces_in_image=face.faces_in_image,
                external_id=external_id,
                embedding=face.vector.tolist() if include_embedding else None,
            )
            for record, (image, face) in zip(records, faces)
        ]
        first = embeddings[0]
        return EnrollmentResult(
            organization=organization,
            embed_id=first.embed_id,
            created_at=first.created_at,
            embedding=first.embedding,
            embeddings=embeddings,
            failed=failed,
        )

    def presign_upload(
        self,
        organization: str,
        *,
        filename: str,
        content_type: str,
        size: int,
        external_id: str | None = None,
    ) -> PresignedUpload:
        """A URL to PUT one photo of up to ``max_upload_bytes`` straight into the upload inbox."""
        validate_organization(organization)
        validate_external_id(external_id)
        if content_type not in UPLOAD_CONTENT_TYPES:
            raise UnsupportedImageFormat(
                f"content_type must be one of {', '.join(sorted(UPLOAD_CONTENT_TYPES))}."
            )
        if not 1 <= size <= self.settings.max_upload_bytes:
            raise ImageTooLarge(
                f"size must be between 1 and {self.settings.max_upload_bytes} bytes."
            )
        name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[-100:] or "photo"
        key = f"{UPLOAD_PREFIX}{organization}/{uuid.uuid4().hex}-{name}"
        url, headers = presign_upload(
            self.shards.bucket, key, content_type=content_type, size=size, external_id=external_id
        )
        return PresignedUpload(key=key, url=url, headers=headers, expires_in=PRESIGNED_URL_SECONDS)

    # Matching

    def compare(
        self,
        organization: str,
        image: ImageInput,
        *,
        threshold: float | None = None,
        top_k: int = 1,
    ) -> ComparisonResult:
        validate_organization(organization)
        if threshold is not None and not 0.0 <= threshold <= 2.0:
            raise InvalidRequest("threshold is a cosine distance between 0 and 2.")
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidRequest(f"top_k is between 1 and {MAX_TOP_K}.")
        refreshed = self._background.submit(self.vectors.refresh, organization, self.settings.model)
        try:
            face = self.embed(image)
        finally:
            wait([refreshed])  # never leave a read running past the request
        refreshed.result()
        threshold = self.embedder.default_threshold if threshold is None else threshold
        matches = self.match(organization, face.vector, top_k, threshold, revalidate=False)
        best = matches[0]
        return ComparisonResult(
            **best.model_dump(),
            threshold=threshold,
            model=self.settings.model,
            face=Face(**vars(face.box)),
            matches=matches,
        )

    def match(
        self, organization: str, vector: np.ndarray, top_k: int, threshold: float, *, revalidate: bool = True
    ) -> list[Match]:
        """The ``top_k`` nearest live faces, best first."""
        for attempt in range(2):
            candidates = self.vectors.search(
                organization, self.settings.model, vector, top_k, revalidate=revalidate or attempt > 0
            )
            if not candidates:
                raise OrganizationNotFound(
                    f"Organization {organization!r} has no enrolled faces for model {self.settings.model}."
                )
            labels = self.catalog.labels(organization, [c.embed_id for c in candidates])
            # A face erased since the vectors were read has lost its metadata: search again.
            if all(c.embed_id in labels for c in candidates):
                break
        matches = []
        for candidate in candidates:
            if candidate.embed_id not in labels:
                continue
            # Decided on the distance as answered, so that a caller who sends an answer's
            # distance back as the threshold gets a match, as `distance <= threshold` reads.
            distance = round(max(0.0, 1.0 - candidate.similarity), 6)
            matches.append(
                Match(
                    embed_id=candidate.embed_id,
                    external_id=labels[candidate.embed_id],
                    similarity_score=round(1.0 - distance, 6),
                    distance=distance,
                    match=distance <= threshold,
                )
            )
        if not matches:
            raise OrganizationNotFound(f"Organization {organization!r} has no enrolled faces for model {self.settings.model}.")
        return matches

    def embed(self, image: ImageInput, *, max_bytes: int | None = None) -> EmbeddedFace:
        """Decode a photo and embed its largest face."""
        pixels = decode_image(
            image.raw_bytes(),
            max_bytes=max_bytes or self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
        )
        return self.embedder.embed(pixels)

    # What is held, and deleting it

    def list_embeddings(
        self,
        organization: str,
        *,
        limit: int = 50,
        next_token: str | None = None,
        external_id: str | None = None,
    ) -> EmbeddingPage:
        validate_organization(organization)
        validate_external_id(external_id)
        start_key = self.page_tokens.start_key(next_token, organization, external_id)
        records, last_key = self.catalog.list_embeddings(
            organization, limit=limit, start_key=start_key, external_id=external_id
        )
        return EmbeddingPage(
            organization=organization,
            embeddings=[_stored(r) for r in self.writes.live(organization, records)],
            next_token=self.page_tokens.issue(last_key, organization, external_id),
        )

    def get_embedding(self, organization: str, embed_id: int) -> StoredEmbedding:
        validate_organization(organization)
        record = self.catalog.get_embedding(organization, embed_id)
        if record is None or not self.writes.live(organization, [record]):
            raise EmbeddingNotFound(f"Organization {organization!r} has no embedding {embed_id}.")
        return _stored(record)

    def delete_embedding(self, organization: str, embed_id: int) -> Deletion:
        validate_organization(organization)
        record = self.catalog.get_embedding(organization, embed_id)
        records = self.writes.erasable(organization, [record] if record else [])
        if not records:
            raise EmbeddingNotFound(f"Organization {organization!r} has no embedding {embed_id}.")
        return self._delete(organization, records)

    def delete_person(self, organization: str, external_id: str) -> Deletion:
        """Delete every embedding labelled with ``external_id``: one person's right to erasure."""
        validate_organization(organization)
        validate_external_id(external_id)
        records = self.writes.erasable(organization, self.catalog.embeddings_of(organization, external_id))
        if not records:
            raise EmbeddingNotFound(
                f"Organization {organization!r} has no embedding labelled {external_id!r}."
            )
        return self._delete(organization, records)

    # API keys

    def create_key(self, organization: str) -> ApiKey:
        validate_organization(organization)
        issued = self.keys.create(organization, timestamp(self.writes.clock()))
        return ApiKey(organization=organization, key_id=issued.key_id, api_key=issued.api_key)

    def revoke_key(self, organization: str, key_id: str) -> RevokedKey:
        validate_organization(organization)
        self.keys.revoke(organization, key_id)
        return RevokedKey(organization=organization, key_id=key_id, revoked=True)

    def purge_organization(self, organization: str, *, time_left: float = math.inf, api_base: str = "") -> Purge:
        """Delete everything of an organization: vectors, photos, uploads, metadata, keys.

        Every object version goes too. Its embed_ids are never handed out again. Its keys are
        revoked and it reads as purging at once; the request works on the rest for
        ``purge_request_seconds`` (within ``time_left``, the seconds its invocation has left),
        and hands what is left to a job, whose status is at ``<api_base>/api/jobs/<job_id>``."""
        validate_organization(organization)
        purges = self.writes.purges
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

    # Long jobs

    def start_sweep(self, api_base: str = "") -> Job:
        """Submit a sweep of every organization (docs/erasure.md); its status is a job's."""
        record = self.jobs.submit(SWEEP, EVERY_ORGANIZATION)
        return self.job_status(record.job_id, api_base)

    def job_status(self, job_id: str, api_base: str = "") -> Job:
        """A job's status, for whoever holds its id (the id is the capability)."""
        record = self.jobs.status(job_id)
        done = record.finished_at is not None
        return Job(
            job_id=job_id,
            kind=record.kind,
            organization=record.organization,
            state=record.state,
            submitted_at=timestamp(record.submitted_at),
            finished_at=timestamp(record.finished_at) if done else None,
            progress=dict(record.progress),
            backups=purge_backups(record.finished_at) if done and record.kind == PURGE else None,
            status_url=f"{api_base}/api/jobs/{job_id}",
        )

    def run_job(self, body: str, time_left: float) -> None:
        """One step of the job a queue message names; ``time_left``: the invocation's seconds left."""
        settings = self.settings
        self.jobs.run(body, Deadline.after(step_seconds(settings.job_step_seconds, time_left, settings.job_margin_seconds)))

    def _delete(self, organization: str, records: list[EmbeddingRecord]) -> Deletion:
        self.writes.delete(organization, records)
        return Deletion(organization=organization, deleted=[_stored(r) for r in records])
