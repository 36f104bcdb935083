"""Use case: enroll photos, once per Idempotency-Key when the caller sends one.

With a key, a retry gets the first answer and enrolls nothing new. The key is the
organization's: one organization's key never reaches another's answers. The first request
under a key takes it (``in_progress``); a second one while it runs gets 409 ``IN_PROGRESS``, and
one with another request under the key gets 409 ``IDEMPOTENCY_KEY_REUSED``. The answer (201, or a
4xx that the same request would get again) is kept 24 hours and replayed with
``Idempotent-Replayed: true``. A failure worth retrying (a 5xx, a 409) frees the key. A request
that died mid-way is taken over after a minute, and its enrollment is repeatable (the same ids
and shard, ``idempotency.Repeatable``), so even then the face is enrolled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facematch.config import Settings
from facematch.errors import FaceMatchError, InvalidRequest, NothingEnrolled
from facematch.faces import EmbeddedFace, FaceEmbedder
from facematch.idempotency import EnrollOnce, Repeatable, StoredAnswer, fingerprint
from facematch.inputs import ImageInput
from facematch.models import Embedding, EnrollmentResult, FailedImage, dump
from facematch.writes import NewFace, Writes

# Answers that the same request would get again: kept. Others (409: the organization's state
# or the key's, 429, 5xx) are not, so a retry runs again.
_TRANSIENT = {409, 429}


@dataclass(frozen=True)
class KeyedAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool


class Enrollment:
    def __init__(self, settings: Settings, embedder: FaceEmbedder, writes: Writes, once: EnrollOnce) -> None:
        self.settings = settings
        self.embedder = embedder
        self.writes = writes
        self.once = once

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
        """Embed the largest face of each photo and store them all, or none; photos without a
        usable face are listed as failed, and only when every one fails is it an error."""
        if not images:
            raise InvalidRequest("At least one image is required.")
        if len(images) > self.settings.max_images_per_request:
            raise InvalidRequest(
                f"At most {self.settings.max_images_per_request} images per request; got {len(images)}."
            )
        faces: list[tuple[ImageInput, EmbeddedFace]] = []
        failures: list[tuple[str, FaceMatchError]] = []
        for image in images:
            try:
                faces.append((image, self.embed(image, max_image_bytes)))
            except FaceMatchError as error:
                failures.append((image.name, error))
        if not faces:
            raise NothingEnrolled(failures)
        records = self.writes.enroll(
            organization,
            self.settings.model,
            [
                NewFace(
                    vector=face.vector,
                    box=face.box.model_dump(),
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
                face=face.box,
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
            failed=[FailedImage(image=name, error=error.to_dict()) for name, error in failures],
        )

    def enroll_once(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        key: str,
        include_embedding: bool = False,
        external_id: str | None = None,
    ) -> KeyedAnswer:
        """``enroll`` under an Idempotency-Key: the first answer to the same request, replayed."""
        request = fingerprint(
            organization,
            {"include_embedding": include_embedding, "external_id": external_id},
            [(image.name, image.raw_bytes()) for image in images],
        )
        repeatable = Repeatable.keyed(organization, key)
        stored = self.once.begin(organization, repeatable, request)
        if stored:
            return KeyedAnswer(stored.status, stored.body, replayed=True)
        try:
            result = self.enroll(
                organization, images, include_embedding=include_embedding, external_id=external_id, repeatable=repeatable
            )
        except FaceMatchError as error:
            if 400 <= error.status < 500 and error.status not in _TRANSIENT:
                self.once.finish(organization, repeatable, request, StoredAnswer(error.status, error.response_body()))
            else:
                self.once.release(organization, repeatable)
            raise
        except Exception:
            self.once.release(organization, repeatable)
            raise
        body = dump(result)
        self.once.finish(organization, repeatable, request, StoredAnswer(201, body))
        return KeyedAnswer(201, body, replayed=False)

    def embed(self, image: ImageInput, max_bytes: int | None = None) -> EmbeddedFace:
        """One photo's largest face, refused over ``max_bytes`` (the API's limit by default)."""
        return self.embedder.embed_photo(
            image.raw_bytes(), max_bytes=max_bytes or self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels
        )
