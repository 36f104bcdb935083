"""The DynamoDB catalog: embedding metadata and the per-organization id counter.

One table, keyed ``pk`` / ``sk``:
- ``ORG#<organization>`` / ``COUNTER``: the last embed_id handed out (atomic ``ADD``). It
  outlives a purge, so an id names one face forever;
- ``ORG#<organization>`` / ``SOURCE#...``, ``IDEM#...`` and ``DELIVERY#...``: see ``idempotency.py``;
- ``ORG#<organization>`` / ``EMB#<embed_id, zero-padded>``: one item per stored embedding;
- ``ORG#<organization>`` / ``PER#<external_id>#<embed_id, zero-padded>``: a copy of each labelled
  one, so that one strongly consistent query finds every face of a person (a global secondary
  index is updated asynchronously: a deletion through one could miss a face enrolled a moment
  before). Labels cannot hold ``#``, so one person's prefix never covers another's;
- ``ORG#<organization>`` / ``UPLOAD#<received_at>#<key digest>``: the outcome of one S3 upload,
  newest last in key order, so a reverse query lists recent uploads first. It expires after
  ``UPLOAD_RECORD_SECONDS``, and goes at once with the face it names.
Items that expire carry ``expiration`` (epoch seconds, the table's TTL attribute); reads ignore
an expired item, and the sweeper deletes it, as DynamoDB's TTL takes up to a few days.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.config import get_settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_ID_WIDTH = 12
# Items a purge reads per query page: 40 BatchWriteItem calls when all of them go.
_PURGE_PAGE = 1000


@dataclass(frozen=True)
class EmbeddingRecord:
    organization: str
    embed_id: int
    created_at: str
    model: str
    face: dict[str, Any]
    shard: str
    source: str
    external_id: str | None = None
    image_key: str | None = None
    # The organization's generation it was written in: a purge deletes older ones only.
    generation: int = 1
    # The items that name this face (a repeatable enrollment's claim, a stored answer): they are
    # deleted with it.
    mentioned_in: list[str] | None = None


@dataclass(frozen=True)
class UploadRecord:
    organization: str
    key: str
    received_at: str
    status: str  # "enrolled" or "failed"
    size: int | None = None
    embed_id: int | None = None
    external_id: str | None = None
    error: dict[str, str] | None = None


def _keys(record: EmbeddingRecord) -> list[dict[str, str]]:
    """The items of one embedding: its own, and its person's copy when it has a label."""
    keys = [{"pk": org_key(record.organization), "sk": _embedding_key(record.embed_id)}]
    if record.external_id:
        keys.append({"pk": org_key(record.organization), "sk": _person_prefix(record.external_id) + _id(record.embed_id)})
    return keys


def upload_record_sk(received_at: str, key: str) -> str:
    # Keys can be 1 KiB, a sort key's whole limit: a digest names the upload.
    return f"UPLOAD#{received_at}#{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _person_prefix(external_id: str) -> str:
    return f"PER#{external_id}#"


def _id(embed_id: int) -> str:
    return f"{embed_id:0{_ID_WIDTH}d}"


def org_key(organization: str) -> str:
    return f"ORG#{organization}"


def _embedding_key(embed_id: int) -> str:
    return f"EMB#{_id(embed_id)}"


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
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class Catalog:
    def __init__(self, table_name: str | None = None) -> None:
        self.table_name = table_name or get_settings().table

    def allocate_ids(self, organization: str, count: int) -> list[int]:
        """Reserve ``count`` consecutive ids; the counter only grows, so ids are never reused."""
        response = client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item({"pk": org_key(organization), "sk": "COUNTER"}),
            UpdateExpression="ADD last_id :count",
            ExpressionAttributeValues={":count": {"N": str(count)}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(response["Attributes"]["last_id"]["N"])
        return list(range(last - count + 1, last + 1))

    def put_embeddings(self, records: list[EmbeddingRecord], *, overwrite: bool = False) -> None:
        """Write all records of one enrollment or none of them; ``overwrite`` for a redelivery."""
        condition = {} if overwrite else {"ConditionExpression": "attribute_not_exists(pk)"}
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table_name, "Item": to_item({**key, **asdict(record)}), **condition}}
                for record in records
                for key in _keys(record)
            ]
        )

    def get_embeddings(self, organization: str, embed_ids: list[int]) -> list[EmbeddingRecord]:
        records = (self.get_embedding(organization, embed_id) for embed_id in embed_ids)
        return [record for record in records if record is not None]

    def delete_embeddings(self, records: list[EmbeddingRecord]) -> None:
        self.delete_items([key for record in records for key in _keys(record)])

    def list_embeddings(
        self,
        organization: str,
        *,
        limit: int,
        start_key: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> tuple[list[EmbeddingRecord], dict[str, Any] | None]:
        """One page of an organization's embeddings in embed_id order after ``start_key``, and the
        key the next page starts after (None on the last page)."""
        prefix = "EMB#" if external_id is None else _person_prefix(external_id)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Limit": limit,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": org_key(organization), ":prefix": prefix}),
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = client("dynamodb").query(**request)
        records = [_record(EmbeddingRecord, from_item(item)) for item in response["Items"]]
        return records, response.get("LastEvaluatedKey")

    def embeddings_of(self, organization: str, external_id: str) -> list[EmbeddingRecord]:
        records, last = self.list_embeddings(organization, limit=1000, external_id=external_id)
        while last:
            page, last = self.list_embeddings(
                organization, limit=1000, external_id=external_id, start_key=last
            )
            records += page
        return records

    def purge_page(
        self, organization: str, *, before_generation: int, start_key: dict[str, Any] | None = None
    ) -> tuple[int, bool, dict[str, Any] | None]:
        """Delete the organization's items (embeddings, claims, upload records, key records) among
        one query page, but the id counter and what generation ``before_generation`` or a later
        one wrote. Returns how many, whether more may be read, and where the next page starts:
        the same place when this page deleted anything (what it deleted is gone)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "sk <> :counter AND (attribute_not_exists(generation) OR generation < :generation)",
            "ExpressionAttributeValues": to_item(
                {":pk": org_key(organization), ":counter": "COUNTER", ":generation": before_generation}
            ),
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
            "Limit": _PURGE_PAGE,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = client("dynamodb").query(**request)
        keys = [from_item(item) for item in response["Items"]]
        self.delete_items(keys)
        more = "LastEvaluatedKey" in response
        if keys or not more:
            return len(keys), more, start_key
        return 0, more, response["LastEvaluatedKey"]

    def organization_items(
        self, organization: str, start_key: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of every item of the organization's partition, and where the next starts."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": org_key(organization)}),
            "ConsistentRead": True,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = client("dynamodb").query(**request)
        return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")

    def delete_unchanged(self, item: dict[str, Any], attribute: str) -> bool:
        """Delete an item unless its ``attribute`` changed since it was read (a writer put it
        again meanwhile); whether it was deleted."""
        try:
            client("dynamodb").delete_item(
                TableName=self.table_name,
                Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
                ConditionExpression="#seen = :seen",
                ExpressionAttributeNames={"#seen": attribute},
                ExpressionAttributeValues=to_item({":seen": item[attribute]}),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_items(self, keys: list[dict[str, str]]) -> None:
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": to_item(key)}} for key in keys[start : start + 25]]
            while requests:
                response = client("dynamodb").batch_write_item(RequestItems={self.table_name: requests})
                requests = response.get("UnprocessedItems", {}).get(self.table_name, [])

    def get_embedding(self, organization: str, embed_id: int) -> EmbeddingRecord | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": org_key(organization), "sk": _embedding_key(embed_id)}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        return _record(EmbeddingRecord, from_item(response["Item"]))

    def labels(self, organization: str, embed_ids: list[int]) -> dict[int, str | None]:
        """The label (or None) of each of these embeddings that still has metadata, in one
        batched, strongly consistent read."""
        keys = [
            to_item({"pk": org_key(organization), "sk": _embedding_key(embed_id)})
            for embed_id in dict.fromkeys(embed_ids)
        ]
        labels: dict[int, str | None] = {}
        for start in range(0, len(keys), 100):
            pending = {
                self.table_name: {
                    "Keys": keys[start : start + 100],
                    "ProjectionExpression": "embed_id, external_id",
                    "ConsistentRead": True,
                }
            }
            while pending:
                response = client("dynamodb").batch_get_item(RequestItems=pending)
                for item in response["Responses"].get(self.table_name, []):
                    values = from_item(item)
                    labels[values["embed_id"]] = values.get("external_id")
                pending = response.get("UnprocessedKeys") or {}
        return labels

    def record_upload(self, record: UploadRecord, *, expires_at: int) -> None:
        """Record an upload's outcome, kept until ``expires_at`` (DynamoDB TTL, and the sweeper)."""
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": org_key(record.organization),
                    "sk": upload_record_sk(record.received_at, record.key),
                    "expiration": expires_at,
                    **asdict(record),
                }
            ),
        )

    def recent_uploads(self, organization: str, limit: int, *, now: int) -> list[UploadRecord]:
        """The newest upload records not yet expired (a page may hold fewer than ``limit``)."""
        response = client("dynamodb").query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :uploads)",
            FilterExpression="attribute_not_exists(expiration) OR expiration > :now",
            ExpressionAttributeValues=to_item({":pk": org_key(organization), ":uploads": "UPLOAD#", ":now": now}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_record(UploadRecord, from_item(item)) for item in response["Items"]]


def embedding_record(item: dict[str, Any]) -> EmbeddingRecord:
    return _record(EmbeddingRecord, item)


def _record(record_type: type, item: dict[str, Any]) -> Any:
    """The dataclass of an item, ignoring the table's key attributes."""
    return record_type(**{name: item[name] for name in record_type.__dataclass_fields__ if name in item})
