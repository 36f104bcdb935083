"""The one DynamoDB table: its key grammar, its item codec, and the operations every repository
over it shares (catalog.py, key_store.py, job_store.py, idempotency.py, upload_store.py).

Items, keyed ``pk`` / ``sk``; everything of an organization lives in its partition
``ORG#<organization>``, so its purge and its sweep read only their own:

- ``COUNTER``: the last embed_id handed out (atomic ``ADD``). It outlives a purge, so an id
  names one face forever;
- ``EMB#<embed_id>``: one item per stored embedding;
- ``PER#<external_id>#<embed_id>``: a copy of each labelled one, so that one strongly
  consistent query finds every face of a person (a global secondary index is updated
  asynchronously: a deletion through one could miss a face enrolled a moment before). Labels
  cannot hold ``#``, so one person's prefix never covers another's;
- ``UPLOAD#<received_at>#<key digest>``: the outcome of one S3 upload, newest last in key
  order, so a reverse query lists recent uploads first;
- ``SOURCE#<name>``: the ids one repeatable enrollment claimed; ``IDEM#<sha256 of the key>`` and
  ``DELIVERY#<name>``: the stored answer of an Idempotency-Key or of an uploaded object version
  (idempotency.py);
- ``APIKEY#<key_id>``: the hash of one of the organization's API keys.

Outside every organization's partition, so no purge deletes them:
- ``KEY#<sha256 of an API key>`` / ``KEY``: the key's organization and key_id, for the authorizer;
- ``JOB#<sha256 of a job id>`` / ``JOB``: a long job's status (job_store.py).

embed_ids in sort keys are zero-padded to 12 digits, so key order is id order. Items that
expire carry ``expiration`` (epoch seconds, the table's TTL attribute); reads ignore an expired
item, and the sweeper deletes it, as DynamoDB's TTL takes up to a few days.
"""

from __future__ import annotations

import hashlib
import random
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.config import get_settings

Key = dict[str, str]
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_ID_WIDTH = 12
COUNTER = "COUNTER"
EMBEDDING_PREFIX = "EMB#"
PERSON_PREFIX = "PER#"
UPLOAD_RECORD_PREFIX = "UPLOAD#"
CLAIM_PREFIX = "SOURCE#"
ANSWER_PREFIXES = ("IDEM#", "DELIVERY#")
API_KEY_PREFIX = "APIKEY#"
# BatchWriteItem takes 25 requests, BatchGetItem 100 keys.
_WRITE_BATCH, _READ_BATCH = 25, 100
# Unprocessed items (throttling) are retried after 50 ms, doubling up to 5 s, with full jitter.
_FIRST_BACKOFF_SECONDS, _MAX_BACKOFF_SECONDS = 0.05, 5.0


# Key grammar


def organization_pk(organization: str) -> str:
    return f"ORG#{organization}"


def _id(embed_id: int) -> str:
    return f"{embed_id:0{_ID_WIDTH}d}"


def embedding_sk(embed_id: int) -> str:
    return f"{EMBEDDING_PREFIX}{_id(embed_id)}"


def person_prefix(external_id: str) -> str:
    return f"{PERSON_PREFIX}{external_id}#"


def person_sk(external_id: str, embed_id: int) -> str:
    return person_prefix(external_id) + _id(embed_id)


def upload_sk(received_at: str, key: str) -> str:
    # Object keys can be 1 KiB, a sort key's whole limit: a digest names the upload.
    return f"{UPLOAD_RECORD_PREFIX}{received_at}#{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def claim_sk(name: str) -> str:
    return f"{CLAIM_PREFIX}{name}"


def keyed_answer_sk(idempotency_key: str) -> str:
    return f"{ANSWER_PREFIXES[0]}{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


def delivery_answer_sk(name: str) -> str:
    return f"{ANSWER_PREFIXES[1]}{name}"


def api_key_sk(key_id: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}"


def api_key_lookup(api_key_hash: str) -> Key:
    return {"pk": f"KEY#{api_key_hash}", "sk": "KEY"}


def job_key(job_id: str) -> Key:
    return {"pk": f"JOB#{hashlib.sha256(job_id.encode()).hexdigest()}", "sk": "JOB"}


def in_organization(organization: str, sk: str) -> Key:
    return {"pk": organization_pk(organization), "sk": sk}


# Item codec


def to_item(value: dict[str, Any]) -> dict[str, Any]:
    # DynamoDB has no float type; Decimal(str(x)) keeps the value exactly as printed.
    return {
        name: _serializer.serialize(_decimals(attribute))
        for name, attribute in value.items()
        if attribute is not None
    }


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def conditional_check_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2**attempt)))


class Table:
    """The table's shared operations; repositories add what their items mean."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or get_settings().table

    def get(self, key: Key, *, consistent: bool = True) -> dict[str, Any] | None:
        item = client("dynamodb").get_item(TableName=self.name, Key=to_item(key), ConsistentRead=consistent).get("Item")
        return None if item is None else from_item(item)

    def get_many(self, keys: list[Key], projection: str) -> list[dict[str, Any]]:
        """The items of these keys that exist, in one strongly consistent batched read each 100."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), _READ_BATCH):
            pending = {
                self.name: {
                    "Keys": [to_item(key) for key in keys[start : start + _READ_BATCH]],
                    "ProjectionExpression": projection,
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while pending:
                response = client("dynamodb").batch_get_item(RequestItems=pending)
                found += [from_item(item) for item in response["Responses"].get(self.name, [])]
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    _backoff(attempt)
                    attempt += 1
        return found

    def delete_items(self, keys: list[Key]) -> None:
        for start in range(0, len(keys), _WRITE_BATCH):
            requests = [{"DeleteRequest": {"Key": to_item(key)}} for key in keys[start : start + _WRITE_BATCH]]
            attempt = 0
            while requests:
                response = client("dynamodb").batch_write_item(RequestItems={self.name: requests})
                requests = response.get("UnprocessedItems", {}).get(self.name, [])
                if requests:
                    _backoff(attempt)
                    attempt += 1

    def query_page(
        self, organization: str, *, prefix: str | None = None, start_key: dict[str, Any] | None = None, **request: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One strongly consistent page of the organization's items (under ``prefix``), and the
        key the next page starts after (None on the last page). ``request``: more of Query's
        parameters; its ``ExpressionAttributeValues`` are plain values."""
        condition = "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk"
        values = {":pk": organization_pk(organization), **({":prefix": prefix} if prefix else {})}
        values.update(request.pop("ExpressionAttributeValues", {}))
        query: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
            "ConsistentRead": True,
            **request,
        }
        if start_key:
            query["ExclusiveStartKey"] = start_key
        response = client("dynamodb").query(**query)
        return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")

    def delete_unchanged(self, item: dict[str, Any], attribute: str) -> bool:
        """Delete an item unless its ``attribute`` changed since it was read (a writer put it
        again meanwhile); whether it was deleted."""
        try:
            client("dynamodb").delete_item(
                TableName=self.name,
                Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
                ConditionExpression="#seen = :seen",
                ExpressionAttributeNames={"#seen": attribute},
                ExpressionAttributeValues=to_item({":seen": item[attribute]}),
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True
