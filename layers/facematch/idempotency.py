"""Enrolling once: the ids a repeatable enrollment claims, and the stored answers of requests
sent with an ``Idempotency-Key`` (data access over table.py).

Items, in the organization's partition:
- ``SOURCE#<name>``: the ids claimed by one repeatable enrollment (an uploaded object version,
  or an Idempotency-Key), so every retry enrolls under the same ids and shard and the write
  protocol commits it once;
- ``IDEM#<sha256 of the key>``: one keyed request: its fingerprint, ``in_progress`` or ``done``,
  and once done the answer (status and body); ``DELIVERY#<name>``: the same for one uploaded
  object version, so a redelivered upload is answered from it.
Both expire (DynamoDB TTL on ``expiration``). Each face's record lists the ones that name it
(``mentioned_in``), so they are deleted with it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.errors import IdempotencyKeyInProgress, IdempotencyKeyReused
from facematch.table import (
    Table,
    claim_sk,
    conditional_check_failed,
    delivery_answer_sk,
    in_organization,
    keyed_answer_sk,
    to_item,
)

# A keyed answer is replayed for this long, as payment APIs do.
ANSWER_SECONDS = 24 * 3600
# An upload's claim lives as long as Powertools' record of its delivery.
UPLOAD_CLAIM_SECONDS = 7 * 24 * 3600
# A request still "in progress" after this long died (the function's timeout is 25 s): a retry
# takes its key over, and enrolls under the same claimed ids.
IN_PROGRESS_SECONDS = 60


@dataclass(frozen=True)
class Repeatable:
    """An enrollment that may be attempted again: every attempt under one name enrolls once,
    and its answer is stored under ``answer_sk`` for ``lifetime_s``. ``mentioned_in``: the sort
    keys of the items that name its faces, deleted with them. ``shown_as``: the key as the
    caller knows it (an Idempotency-Key, an upload's object key)."""

    name: str
    lifetime_s: int
    answer_sk: str
    mentioned_in: tuple[str, ...]
    shown_as: str

    @classmethod
    def upload(cls, bucket: str, key: str, version: str | None, record_sk: str) -> Repeatable:
        """One uploaded object version; ``record_sk``: the item its outcome is recorded as."""
        name = _digest("upload", bucket, key, version or "")
        answer_sk = delivery_answer_sk(name)
        return cls(name, UPLOAD_CLAIM_SECONDS, answer_sk, (claim_sk(name), answer_sk, record_sk), key)

    @classmethod
    def keyed(cls, organization: str, key: str) -> Repeatable:
        name = _digest("idempotency-key", organization, key)
        answer_sk = keyed_answer_sk(key)
        return cls(name, ANSWER_SECONDS, answer_sk, (claim_sk(name), answer_sk), key)

    @property
    def claim_sk(self) -> str:
        return claim_sk(self.name)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The ids a repeatable enrollment claimed, and which of its request's photos they are."""

    ids: list[int]
    images: list[int] | None


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]


def _answer_key(organization: str, repeatable: Repeatable) -> dict[str, Any]:
    return to_item(in_organization(organization, repeatable.answer_sk))


class EnrollOnce:
    def __init__(self, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self.table = Table(table_name)
        self.clock = clock

    # Claims

    def claimed(self, organization: str, source: Repeatable) -> Claim | None:
        """What an earlier attempt of this enrollment claimed, if one did."""
        item = self.table.get(in_organization(organization, source.claim_sk))
        if not item:
            return None
        images = item.get("images")
        return Claim(
            ids=[int(embed_id) for embed_id in item["embed_ids"]],
            images=None if images is None else [int(image) for image in images],
        )

    def claim_ids(
        self,
        organization: str,
        source: Repeatable,
        generation: int,
        allocate: Callable[[int], list[int]],
        count: int,
        images: list[int] | None = None,
    ) -> list[int]:
        """The ids of one repeatable enrollment: allocated by its first attempt, read back by
        every later one of the same generation. ``images``: which of the request's photos they
        are, so that a retry stores the same ones (duplicates.py)."""
        claim_key = in_organization(organization, source.claim_sk)
        key = to_item(claim_key)
        dynamodb = client("dynamodb")
        for _ in range(2):
            item = self.table.get(claim_key)
            if item and item["generation"] == generation:
                return [int(embed_id) for embed_id in item["embed_ids"]]
            ids = allocate(count)
            claim = {"embed_ids": ids, "generation": generation, "expiration": int(self.clock()) + source.lifetime_s}
            if images is not None:
                claim["images"] = images
            try:
                dynamodb.put_item(
                    TableName=self.table.name,
                    Item={**key, **to_item(claim)},
                    ConditionExpression="attribute_not_exists(pk) OR generation < :generation",
                    ExpressionAttributeValues=to_item({":generation": generation}),
                )
            except ClientError as error:
                if not conditional_check_failed(error):
                    raise
                continue  # another attempt claimed first (or this one, its reply lost): use its ids
            return ids
        raise RuntimeError(f"the claim of {source.name} keeps changing")

    # Stored answers

    def begin(self, organization: str, repeatable: Repeatable, fingerprint: str) -> StoredAnswer | None:
        """Take the answer's slot for this request; the stored answer instead when it was answered.

        Raises ``IdempotencyKeyReused`` for another request under the key, and
        ``IdempotencyKeyInProgress`` while it is being answered."""
        now = self.clock()
        key = repeatable.shown_as
        item_key = _answer_key(organization, repeatable)
        dynamodb = client("dynamodb")
        for _ in range(3):
            try:
                dynamodb.put_item(
                    TableName=self.table.name,
                    Item={
                        **item_key,
                        **to_item(
                            {
                                "fingerprint": fingerprint,
                                "state": "in_progress",
                                "started_at": now,
                                "expiration": int(now) + repeatable.lifetime_s,
                            }
                        ),
                    },
                    # Free, expired (TTL deletes lazily), or the same request abandoned mid-way.
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR expiration < :now OR "
                        "(#state = :in_progress AND started_at < :abandoned AND fingerprint = :fingerprint)"
                    ),
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=to_item(
                        {
                            ":now": int(now),
                            ":in_progress": "in_progress",
                            ":abandoned": now - IN_PROGRESS_SECONDS,
                            ":fingerprint": fingerprint,
                        }
                    ),
                )
                return None
            except ClientError as error:
                if not conditional_check_failed(error):
                    raise
            stored = self.table.get(in_organization(organization, repeatable.answer_sk))
            if stored is None:
                continue  # erased or expired meanwhile: take it
            if stored["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused(key)
            if stored["state"] == "done":
                return StoredAnswer(stored["status"], json.loads(stored["body"]))
            raise IdempotencyKeyInProgress(key)
        raise IdempotencyKeyInProgress(key)

    def finish(self, organization: str, repeatable: Repeatable, fingerprint: str, answer: StoredAnswer) -> None:
        """Store the answer, replayed for the repeatable's lifetime from when the request began.
        Not kept if the slot was erased meanwhile (a purge, or a deletion of the faces)."""
        try:
            self._store_answer(organization, repeatable, fingerprint, answer)
        except ClientError as error:
            if not conditional_check_failed(error):
                raise

    def _store_answer(self, organization: str, repeatable: Repeatable, fingerprint: str, answer: StoredAnswer) -> None:
        client("dynamodb").update_item(
            TableName=self.table.name,
            Key=_answer_key(organization, repeatable),
            UpdateExpression="SET #state = :done, #status = :status, body = :body",
            ConditionExpression="fingerprint = :fingerprint",
            ExpressionAttributeNames={"#state": "state", "#status": "status"},
            ExpressionAttributeValues=to_item(
                {
                    ":done": "done",
                    ":status": answer.status,
                    ":body": json.dumps(answer.body),
                    ":fingerprint": fingerprint,
                }
            ),
        )

    def release(self, organization: str, repeatable: Repeatable) -> None:
        """Free the slot after a failure worth retrying (a 5xx, a 409): nothing is stored."""
        client("dynamodb").delete_item(TableName=self.table.name, Key=_answer_key(organization, repeatable))


def fingerprint(organization: str, fields: dict[str, Any], images: list[tuple[str, bytes]]) -> str:
    """What makes two requests the same: the parsed request, not its raw body (curl picks a new
    multipart boundary for every retry)."""
    canonical = {
        "organization": organization,
        "fields": fields,
        "images": [[name, hashlib.sha256(data).hexdigest()] for name, data in images],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
