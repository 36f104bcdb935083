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

import numpy as np

from facematch import quality
from facematch.config import Settings
from facematch.duplicates import DuplicateFinder, without_labels
from facematch.errors import FaceMatchError, InvalidRequest, NothingEnrolled
from facematch.faces import EmbeddedFace, FaceEmbedder
from facematch.idempotency import EnrollOnce, Repeatable, StoredAnswer, fingerprint
from facematch.inputs import ImageInput
from facematch.models import (
    Duplicate,
    Embedding,
    EnrollmentResult,
    FailedImage,
    OnDuplicate,
    QualityFilter,
    SkippedImage,
    dump,
)
from facematch.writes import NewFace, Writes

# Answers that the same request would get again: kept. Others (409: the organization's state
# or the key's, 429, 5xx) are not, so a retry runs again.
_TRANSIENT = {409, 429}


@dataclass(frozen=True)
class KeyedAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool


def status_of(result: EnrollmentResult) -> int:
    """201 when anything was stored; 200 when every face was skipped as a duplicate."""
    return 201 if result.embeddings else 200


@dataclass(frozen=True)
class _Embedded:
    index: int  # the photo's place in the request
    image: ImageInput
    face: EmbeddedFace


class Enrollment:
    def __init__(
        self,
        settings: Settings,
        embedder: FaceEmbedder,
        writes: Writes,
        once: EnrollOnce,
        duplicates: DuplicateFinder,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.writes = writes
        self.once = once
        self.duplicates = duplicates

    def enroll(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        include_embedding: bool = False,
        external_id: str | None = None,
        max_image_bytes: int | None = None,
        repeatable: Repeatable | None = None,
        quality_filter: QualityFilter = "none",
        on_duplicate: OnDuplicate = "allow",
    ) -> EnrollmentResult:
        """Embed the largest face of each photo, screen it for duplicates, and store those to be
        stored all at once, or none. Photos without a usable face (or one ``quality_filter``
        refuses) are listed as failed, and only when every one fails is it an error; under
        ``on_duplicate="skip"`` a face already held is listed as skipped."""
        if not images:
            raise InvalidRequest("At least one image is required.")
        if len(images) > self.settings.max_images_per_request:
            raise InvalidRequest(
                f"At most {self.settings.max_images_per_request} images per request; got {len(images)}."
            )
        # A retry stores what its first attempt decided to, and is not its own duplicate. Read once,
        # before embedding: no other attempt under the same claim runs meanwhile (a keyed request
        # holds its key in progress; an upload's message stays invisible past the timeout).
        prior = self.once.claimed(organization, repeatable) if repeatable else None
        if prior is None:  # not the retry of an enrollment that may have committed: full is full
            self.writes.ensure_room(organization, 1)
        faces, failures = self._embed_all(images, max_image_bytes, quality_filter)
        if not faces:
            raise NothingEnrolled(failures)
        self.duplicates.prepare(organization)
        decided = None if prior is None or prior.images is None else [e.index in prior.images for e in faces]
        screening = self.duplicates.screen(
            organization,
            np.stack([embedded.face.vector for embedded in faces]),
            on_duplicate,
            ignore=frozenset(prior.ids) if prior else frozenset(),
            decided=decided,
        )
        stored = [position for position, keep in enumerate(screening.stored) if keep]
        records = (
            self.writes.enroll(
                organization,
                self.settings.model,
                [
                    NewFace(
                        vector=faces[position].face.vector,
                        box=faces[position].face.box.model_dump(),
                        source=faces[position].image.name,
                        photo=faces[position].image.raw_bytes() if self.settings.store_images else None,
                    )
                    for position in stored
                ],
                external_id,
                repeatable=repeatable,
                images=[faces[position].index for position in stored],
            )
            if stored
            else []
        )
        ids = {position: record.embed_id for position, record in zip(stored, records, strict=True)}

        def duplicates_of(position: int) -> list[Duplicate]:
            return [found.shown(ids, external_id) for found in screening.duplicates[position]]

        embeddings = [
            Embedding(
                embed_id=record.embed_id,
                organization=organization,
                created_at=record.created_at,
                face=faces[position].face.box,
                model=record.model,
                image=faces[position].image.name,
                faces_in_image=faces[position].face.faces_in_image,
                external_id=external_id,
                embedding=faces[position].face.vector.tolist() if include_embedding else None,
                duplicates=duplicates_of(position),
            )
            for position, record in zip(stored, records, strict=True)
        ]
        first = embeddings[0] if embeddings else None
        return EnrollmentResult(
            organization=organization,
            embed_id=first.embed_id if first else None,
            created_at=first.created_at if first else None,
            embedding=first.embedding if first else None,
            embeddings=embeddings,
            failed=[FailedImage(image=name, error=error.to_dict()) for name, error in failures],
            skipped=[
                SkippedImage(image=embedded.image.name, face=embedded.face.box, duplicates=duplicates_of(position))
                for position, embedded in enumerate(faces)
                if position not in ids
            ],
        )

    def _embed_all(
        self, images: list[ImageInput], max_image_bytes: int | None, quality_filter: QualityFilter
    ) -> tuple[list[_Embedded], list[tuple[str, FaceMatchError]]]:
        faces: list[_Embedded] = []
        failures: list[tuple[str, FaceMatchError]] = []
        for index, image in enumerate(images):
            try:
                face = self.embed(image, max_image_bytes)
                refused = quality.refusal(face, quality_filter)
                if refused:
                    raise refused
                faces.append(_Embedded(index, image, face))
            except FaceMatchError as error:
                failures.append((image.name, error))
        return faces, failures

    def enroll_once(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        key: str,
        include_embedding: bool = False,
        external_id: str | None = None,
        quality_filter: QualityFilter = "none",
        on_duplicate: OnDuplicate = "allow",
    ) -> KeyedAnswer:
        """``enroll`` under an Idempotency-Key: the first answer to the same request, replayed."""
        options = {"include_embedding": include_embedding, "external_id": external_id}
        # Only when asked for, so the requests of before these options keep their fingerprints.
        if quality_filter != "none":
            options["quality_filter"] = quality_filter
        if on_duplicate != "allow":
            options["on_duplicate"] = on_duplicate
        request = fingerprint(organization, options, [(image.name, image.raw_bytes()) for image in images])
        repeatable = Repeatable.keyed(organization, key)
        stored = self.once.begin(organization, repeatable, request)
        if stored:
            return KeyedAnswer(stored.status, self.duplicates.relabelled(organization, stored.body), replayed=True)
        try:
            result = self.enroll(
                organization, images, include_embedding=include_embedding, external_id=external_id,
                repeatable=repeatable, quality_filter=quality_filter, on_duplicate=on_duplicate,
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
        self.once.finish(organization, repeatable, request, StoredAnswer(status_of(result), without_labels(body)))
        return KeyedAnswer(status_of(result), body, replayed=False)

    def embed(self, image: ImageInput, max_bytes: int | None = None) -> EmbeddedFace:
        """One photo's largest face, refused over ``max_bytes`` (the API's limit by default)."""
        return self.embedder.embed_photo(
            image.raw_bytes(), max_bytes=max_bytes or self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels,
            max_decoded_bytes=self.settings.max_decoded_bytes,
        )
