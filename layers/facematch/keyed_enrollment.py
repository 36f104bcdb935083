"""Enrollment with an ``Idempotency-Key``: a retry gets the first answer and enrolls nothing new.

The key is the organization's: one organization's key never reaches another's answers. The
first request under a key takes it (``in_progress``); a second one while it runs gets 409
``IN_PROGRESS``, and one with another request under the key gets 409 ``IDEMPOTENCY_KEY_REUSED``.
The answer (201, or a 4xx that the same request would get again) is kept 24 hours and replayed
with ``Idempotent-Replayed: true``. A failure worth retrying (a 5xx, a 409) frees the key. A
request that died mid-way is taken over after a minute, and its enrollment is repeatable
(the same ids and shard, ``idempotency.Repeatable``), so even then the face is enrolled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facematch.errors import FaceMatchError
from facematch.idempotency import Repeatable, StoredAnswer, fingerprint
from facematch.models import dump, validate_idempotency_key
from facematch.service import FaceMatchService, ImageInput

# Answers that the same request would get again: kept. Others (409: the organization's state
# or the key's, 429, 5xx) are not, so a retry runs again.
_TRANSIENT = {409, 429}


@dataclass(frozen=True)
class KeyedAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool


class KeyedEnrollment:
    def __init__(self, service: FaceMatchService) -> None:
        self.service = service
        self.once = service.writes.once

    def enroll(
        self,
        organization: str,
        images: list[ImageInput],
        *,
        key: str,
        include_embedding: bool = False,
        external_id: str | None = None,
    ) -> KeyedAnswer:
        validate_idempotency_key(key)
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
            result = self.service.enroll(
                organization,
                images,
                include_embedding=include_embedding,
                external_id=external_id,
                repeatable=repeatable,
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
