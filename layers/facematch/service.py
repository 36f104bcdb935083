"""FaceMatch's use cases: enroll photos into an organization, and find who a photo shows."""

from __future__ import annotations

import base64
import binascii
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from aws_lambda_powertools import Logger

from facematch import __version__
from facematch.catalog import Catalog, EmbeddingRecord, UploadRecord
from facematch.config import Settings, get_settings
from facematch.errors import (
    FaceMatchError,
    InvalidImage,
    InvalidRequest,
    NothingEnrolled,
    OrganizationNotFound,
)
from facematch.faces import EmbeddedFace, FaceEmbedder
from facematch.images import decode_image
from facematch.models import (
    ComparisonResult,
    Embedding,
    EnrollmentResult,
    Face,
    FailedImage,
    Health,
    UploadList,
    UploadOutcome,
    validate_external_id,
    validate_organization,
)
from facematch.search import VectorStore
from facematch.shards import ShardStore
from facematch.uploads import S3Upload, organization_of, read_upload


logger = Logger()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class FaceMatchService:
    """Built once per process (at Lambda init): the model load is what a cold start pays for."""

    def __init__(
        self,
        settings: Settings,
        embedder: FaceEmbedder,
        catalog: Catalog,
        store: ShardStore,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.catalog = catalog
        self.vectors = VectorStore(store, embedder.dimensions, settings.shard_load_concurrency)
        # Brings the organization's vectors up to date while the query photo is being embedded.
        self._background = ThreadPoolExecutor(max_workers=1)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FaceMatchService:
        settings = settings or get_settings()
        embedder = FaceEmbedder(settings.model, settings.detector, settings.detection_max_side)
        return cls(settings, embedder, Catalog(settings.table), ShardStore(settings.bucket))

    def health(self) -> Health:
        return Health(
            status="ok",
            model=self.settings.model,
            detector=self.settings.detector,
            version=__version__,
        )

    def enroll(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        include_embedding: bool = False,
        external_id: str | None = None,
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
        failed: list[FailedImage] = []
        for image in images:
            try:
                faces.append((image, self.embed(image)))
            except FaceMatchError as error:
                failed.append(FailedImage(image=image.name, error=error.to_dict()))
        if not faces:
            raise NothingEnrolled([failure.model_dump() for failure in failed])
        records = self._store_vectors(organization, faces, external_id)
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
        return EnrollmentResult(organization=organization, embeddings=embeddings, failed=failed)

    def compare(
        self, organization: str, image: ImageInput, *, threshold: float | None = None
    ) -> ComparisonResult:
        validate_organization(organization)
        if threshold is not None and not 0.0 <= threshold <= 2.0:
            raise InvalidRequest("threshold is a cosine distance between 0 and 2.")
        refreshed = self._background.submit(self.vectors.refresh, organization, self.settings.model)
        try:
            face = self.embed(image)
        finally:
            wait([refreshed])  # never leave a read running past the request
        refreshed.result()
        best = self.vectors.search(organization, self.settings.model, face.vector, 1, revalidate=False)
        if not best:
            raise OrganizationNotFound(
                f"Organization {organization!r} has no enrolled faces for model {self.settings.model}."
            )
        threshold = self.embedder.default_threshold if threshold is None else threshold
        distance = max(0.0, 1.0 - best[0].similarity)
        record = self.catalog.get_embedding(organization, best[0].embed_id)
        return ComparisonResult(
            embed_id=best[0].embed_id,
            external_id=record.external_id if record else None,
            similarity_score=round(1.0 - distance, 6),
            distance=round(distance, 6),
            threshold=threshold,
            match=distance <= threshold,
            model=self.settings.model,
            face=Face(**vars(face.box)),
        )

    def enroll_upload(self, upload: S3Upload) -> UploadOutcome:
        """Enroll a photo dropped under ``uploads/<organization>/`` and record the outcome.

        A photo FaceMatch cannot use (no face, not an image, too large, gone) is a permanent
        failure: recorded once, and not raised, so the message is not retried. Anything else
        (throttling, an S3 outage) is raised, so the queue retries it.
        """
        received_at = _now()
        try:
            organization = validate_organization(organization_of(upload.key))
        except InvalidRequest as error:
            # No organization to record it under: the log is the only trace.
            logger.warning("Upload outside any organization", extra={"key": upload.key})
            return UploadOutcome(
                key=upload.key, organization="", status="failed", received_at=received_at,
                size=upload.size, error=error.to_dict(),
            )
        try:
            photo = read_upload(upload, self.settings.max_upload_bytes)
            result = self.enroll(
                organization, [ImageInput(name=upload.key, data=photo.data)],
                external_id=photo.external_id,
            )
        except NothingEnrolled as error:
            outcome = UploadRecord(
                organization, upload.key, received_at, "failed", upload.size,
                error=error.failures[0]["error"],
            )
        except FaceMatchError as error:
            outcome = UploadRecord(
                organization, upload.key, received_at, "failed", upload.size, error=error.to_dict()
            )
        else:
            (embedding,) = result.embeddings
            outcome = UploadRecord(
                organization, upload.key, received_at, "enrolled", photo.size,
                embed_id=embedding.embed_id, external_id=photo.external_id,
            )
        self.catalog.record_upload(outcome)
        return UploadOutcome(**vars(outcome))

    def recent_uploads(self, organization: str, limit: int) -> UploadList:
        validate_organization(organization)
        records = self.catalog.recent_uploads(organization, limit)
        return UploadList(
            organization=organization, uploads=[UploadOutcome(**vars(r)) for r in records]
        )

    def embed(self, image: ImageInput) -> EmbeddedFace:
        """Decode a photo and embed its largest face."""
        pixels = decode_image(
            image.raw_bytes(),
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
        )
        return self.embedder.embed(pixels)

    def _store_vectors(
        self,
        organization: str,
        faces: list[tuple[ImageInput, EmbeddedFace]],
        external_id: str | None,
    ) -> list[EmbeddingRecord]:
        """Shard first (invisible), then metadata, then the manifest commit that makes both live.

        A failure before the commit undoes what was written, so nothing half-stored remains.
        """
        model = self.settings.model
        ids = self.catalog.allocate_ids(organization, len(faces))
        vectors = np.stack([face.vector for _, face in faces])
        shard = self.vectors.stage(organization, model, np.asarray(ids), vectors)
        created_at = _now()
        records = [
            EmbeddingRecord(
                organization=organization,
                embed_id=embed_id,
                created_at=created_at,
                model=model,
                face=vars(face.box),
                shard=shard.key,
                source=image.name,
                external_id=external_id,
            )
            for embed_id, (image, face) in zip(ids, faces)
        ]
        try:
            self.catalog.put_embeddings(records)
            try:
                self.vectors.publish(organization, model, shard)
            except BaseException:
                self.catalog.delete_embeddings(organization, ids)
                raise
        except BaseException:
            self.vectors.discard(shard)
            raise
        return records
