"""Embedding metadata and the per-organization id counter, in the table (table.py has the keys)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from facematch.aws import client
from facematch.table import (
    COUNTER,
    EMBEDDING_PREFIX,
    PERSON_PREFIX,
    Key,
    Table,
    embedding_sk,
    in_organization,
    person_prefix,
    person_sk,
    to_item,
)

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


def _keys(record: EmbeddingRecord) -> list[Key]:
    """The items of one embedding: its own, and its person's copy when it has a label."""
    keys = [in_organization(record.organization, embedding_sk(record.embed_id))]
    if record.external_id:
        keys.append(in_organization(record.organization, person_sk(record.external_id, record.embed_id)))
    return keys


def embedding_record(item: dict[str, Any]) -> EmbeddingRecord:
    """The record an item holds, ignoring the table's key attributes."""
    return EmbeddingRecord(**{name: item[name] for name in EmbeddingRecord.__dataclass_fields__ if name in item})


class Catalog:
    def __init__(self, table_name: str | None = None) -> None:
        self.table = Table(table_name)

    @property
    def table_name(self) -> str:
        return self.table.name

    def allocate_ids(self, organization: str, count: int) -> list[int]:
        """Reserve ``count`` consecutive ids; the counter only grows, so ids are never reused."""
        response = client("dynamodb").update_item(
            TableName=self.table.name,
            Key=to_item(in_organization(organization, COUNTER)),
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
                {"Put": {"TableName": self.table.name, "Item": to_item({**key, **asdict(record)}), **condition}}
                for record in records
                for key in _keys(record)
            ]
        )

    def get_embedding(self, organization: str, embed_id: int) -> EmbeddingRecord | None:
        item = self.table.get(in_organization(organization, embedding_sk(embed_id)))
        return None if item is None else embedding_record(item)

    def get_embeddings(self, organization: str, embed_ids: list[int]) -> list[EmbeddingRecord]:
        records = (self.get_embedding(organization, embed_id) for embed_id in embed_ids)
        return [record for record in records if record is not None]

    def delete_embeddings(self, records: list[EmbeddingRecord]) -> None:
        self.table.delete_items([key for record in records for key in _keys(record)])

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
        prefix = EMBEDDING_PREFIX if external_id is None else person_prefix(external_id)
        items, last = self.table.query_page(organization, prefix=prefix, start_key=start_key, Limit=limit)
        return [embedding_record(item) for item in items], last

    def embeddings_of(self, organization: str, external_id: str) -> list[EmbeddingRecord]:
        records, last = self.list_embeddings(organization, limit=1000, external_id=external_id)
        while last:
            page, last = self.list_embeddings(organization, limit=1000, external_id=external_id, start_key=last)
            records += page
        return records

    def persons_page(
        self, organization: str, *, limit: int, start_key: dict[str, Any] | None = None
    ) -> tuple[list[list[EmbeddingRecord]], dict[str, Any] | None]:
        """Up to ``limit`` persons in external_id order after ``start_key``, each with all of
        their records (a person's items are contiguous under their prefix), and the key the next
        page starts after (None on the last page)."""
        persons: list[list[EmbeddingRecord]] = []
        previous: dict[str, Any] | None = None
        while True:
            items, last = self.table.query_page(organization, prefix=PERSON_PREFIX, start_key=start_key, Limit=1000)
            for item in items:
                record = embedding_record(item)
                if not persons or persons[-1][0].external_id != record.external_id:
                    if len(persons) == limit:
                        return persons, to_item(in_organization(organization, previous["sk"]))
                    persons.append([])
                persons[-1].append(record)
                previous = item
            if last is None:
                return persons, None
            start_key = last

    def labels(self, organization: str, embed_ids: list[int]) -> dict[int, str | None]:
        """The label (or None) of each of these embeddings that still has metadata, in one
        batched, strongly consistent read."""
        keys = [in_organization(organization, embedding_sk(embed_id)) for embed_id in dict.fromkeys(embed_ids)]
        return {item["embed_id"]: item.get("external_id") for item in self.table.get_many(keys, "embed_id, external_id")}

    def purge_page(
        self, organization: str, *, before_generation: int, start_key: dict[str, Any] | None = None
    ) -> tuple[int, bool, dict[str, Any] | None]:
        """Delete the organization's items (embeddings, claims, upload records, key records) among
        one query page, but the id counter and what generation ``before_generation`` or a later
        one wrote. Returns how many, whether more may be read, and where the next page starts:
        the same place when this page deleted anything (what it deleted is gone)."""
        keys, last = self.table.query_page(
            organization,
            start_key=start_key,
            FilterExpression="sk <> :counter AND (attribute_not_exists(generation) OR generation < :generation)",
            ExpressionAttributeValues={":counter": COUNTER, ":generation": before_generation},
            ProjectionExpression="pk, sk",
            Limit=_PURGE_PAGE,
        )
        self.table.delete_items(keys)
        more = last is not None
        if keys or not more:
            return len(keys), more, start_key
        return 0, more, last

    def organization_items(
        self, organization: str, start_key: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of every item of the organization's partition, and where the next starts."""
        return self.table.query_page(organization, start_key=start_key)

    def delete_unchanged(self, item: dict[str, Any], attribute: str) -> bool:
        return self.table.delete_unchanged(item, attribute)

    def delete_items(self, keys: list[Key]) -> None:
        self.table.delete_items(keys)
