"""Where the audit trail lives: a table of its own (template.yaml's AuditTable), so that erasing an
organization's data, its partition of the main table, leaves the record of the erasure. Records
are added, alone or inside another write's transaction, and read newest first; nothing here
changes or deletes one (DynamoDB's TTL does, after the retention)."""

from __future__ import annotations

from typing import Any

from facematch.aws import client
from facematch.table import Table, in_organization, to_item

AUDIT_PREFIX = "AUDIT#"


def audit_sk(at: str, record_id: str) -> str:
    """Sorted by time (ISO 8601 sorts as text), then by a random id for records of one millisecond."""
    return f"{AUDIT_PREFIX}{at}#{record_id}"


class AuditStore:
    def __init__(self, table_name: str) -> None:
        self.table = Table(table_name)

    def put_request(self, organization: str, sk: str, record: dict[str, Any], expiration: int) -> dict[str, Any]:
        """The record as one write of a transaction (``TransactItems``): it lands with that write or not at all."""
        item = {**in_organization(organization, sk), **record, "expiration": expiration}
        return {
            "Put": {
                "TableName": self.table.name,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",  # records are never overwritten
            }
        }

    def add(self, organization: str, sk: str, record: dict[str, Any], expiration: int) -> None:
        put = self.put_request(organization, sk, record, expiration)["Put"]
        client("dynamodb").put_item(**put)

    def newest_first(
        self, organization: str, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return self.table.query_page(
            organization, prefix=AUDIT_PREFIX, start_key=start_key, Limit=limit, ScanIndexForward=False
        )
