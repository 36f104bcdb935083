"""Where duplicate reports live (data access only): items in the table, objects in the bucket.

Items, in the organization's partition, each with its ``generation`` (a purge deletes them with
the rest) and ``expiration`` (the table's TTL; the sweeper deletes expired ones sooner):
- ``REPORT#<report_id>``: the report's record (reports.ReportRecord);
- ``REPORTING``: the report under way, if any: one per organization. Claimed with the record in
  one transaction, released with its end in another;
- ``REPORT#<report_id>#TASK#<task>``: a task done, and how many pairs it found. Put in one
  transaction with the record's ``tasks_done + 1``, so a task counts once however often it runs;
- ``LEASE#<report_id>``: the shards the report reads. A shard leased is not deleted when the
  compaction that replaced it expires, nor by the sweeper, until the lease ends; an erasure
  deletes it at once all the same (writes.py).

Objects, under the organization's generation (``orgs/<org>/g<generation>/reports/<report_id>/``),
so a purge deletes them: ``plan.json``, ``pairs/<task>.bin`` (tasks that found pairs), and
``groups.json`` once merged.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.manifest import ShardRef
from facematch.pair_blocks import Pairs
from facematch.reports import QUEUED, RUNNING, UNDER_WAY, Plan, ReportRecord
from facematch.shards import ShardMissing, ShardStore, generation_prefix
from facematch.table import Table, in_organization, to_item

REPORT_PREFIX = "REPORT#"
LEASE_PREFIX = "LEASE#"
POINTER = "REPORTING"
_RECORD_FIELDS = tuple(ReportRecord.__dataclass_fields__)
_MISSING = {"NoSuchKey", "404"}


class ReportRunning(Exception):
    """Another report of the organization is under way: its id."""

    def __init__(self, report_id: str) -> None:
        super().__init__(report_id)
        self.report_id = report_id


def record_sk(report_id: str) -> str:
    return f"{REPORT_PREFIX}{report_id}"


def task_sk(report_id: str, task: int) -> str:
    return f"{record_sk(report_id)}#TASK#{task:08d}"


def lease_sk(report_id: str) -> str:
    return f"{LEASE_PREFIX}{report_id}"


def report_prefix(organization: str, generation: int, report_id: str) -> str:
    return f"{generation_prefix(organization, generation)}reports/{report_id}/"


def _cancelled_by_condition(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# A transaction cancelled because another one touched the same item at once (every task counts
# itself on the report's record) is tried again: it says nothing about the conditions.
_CONTENTION = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_TRANSACTION_ATTEMPTS = 10


def _transact(items: list[dict[str, Any]]) -> bool:
    """Write ``items`` in one transaction: True once written, False if a condition failed. Lost
    races with other transactions are retried with jittered backoff; past the attempts the error
    is raised (a task's message then comes back from the queue)."""
    for attempt in range(_TRANSACTION_ATTEMPTS):
        try:
            client("dynamodb").transact_write_items(TransactItems=items)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
            if "ConditionalCheckFailed" in reasons:
                return False
            if not reasons & _CONTENTION or attempt == _TRANSACTION_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
    raise AssertionError("unreachable")


class ReportRecords:
    def __init__(self, table_name: str | None = None) -> None:
        self.table = Table(table_name)

    def create(self, record: ReportRecord, now: float) -> None:
        """The record, and the organization's claim on its one report under way (``ReportRunning``
        with the other's id if it holds it, unless that one stalled past its expiry)."""
        pk = in_organization(record.organization, POINTER)
        if not _transact([
            {"Put": {
                "TableName": self.table.name,
                "Item": to_item({**pk, "report_id": record.report_id, "generation": record.generation,
                                 "expiration": int(record.deadline)}),
                "ConditionExpression": "attribute_not_exists(pk) OR expiration < :now",
                "ExpressionAttributeValues": to_item({":now": int(now)}),
            }},
            {"Put": {
                "TableName": self.table.name,
                "Item": self._item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
        ]):
            holder = self.table.get(pk)
            raise ReportRunning(holder["report_id"] if holder else "")

    def get(self, organization: str, report_id: str, now: float) -> ReportRecord | None:
        """The record, unless it expired (DynamoDB deletes expired items only within days)."""
        item = self.table.get(in_organization(organization, record_sk(report_id)))
        if item is None or item.get("expiration", now + 1) <= now:
            return None
        return ReportRecord(**{name: item[name] for name in _RECORD_FIELDS if name in item})

    def start(self, record: ReportRecord) -> bool:
        """Queued -> running, with the plan's figures; False if it is no longer queued."""
        return self._replace(record, expected=(QUEUED,))

    def end(self, record: ReportRecord) -> bool:
        """Write the record's end (done, failed, cancelled) if it is still under way, and release
        the organization's claim and the lease with it; False if it had ended already."""
        pointer = in_organization(record.organization, POINTER)
        return _transact([
            self._replace_request(record, expected=UNDER_WAY),
            {"Delete": {
                "TableName": self.table.name,
                "Key": to_item(pointer),
                "ConditionExpression": "attribute_not_exists(pk) OR report_id = :id",
                "ExpressionAttributeValues": to_item({":id": record.report_id}),
            }},
            {"Delete": {
                "TableName": self.table.name,
                "Key": to_item(in_organization(record.organization, lease_sk(record.report_id))),
            }},
        ])

    def count_task(self, record: ReportRecord, task: int, pairs: int) -> bool:
        """Count a task done, once: False if it was counted before or the report is no longer
        running (cancelled, ended, purged)."""
        key = in_organization(record.organization, task_sk(record.report_id, task))
        return _transact([
            {"Put": {
                "TableName": self.table.name,
                "Item": to_item({**key, "task": task, "pairs": pairs, "generation": record.generation,
                                 "expiration": int(record.expires_at)}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Update": {
                "TableName": self.table.name,
                "Key": to_item(in_organization(record.organization, record_sk(record.report_id))),
                "UpdateExpression": "ADD tasks_done :one",
                "ConditionExpression": "#state = :running",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": to_item({":one": 1, ":running": RUNNING}),
            }},
        ])

    def task_counted(self, record: ReportRecord, task: int) -> bool:
        return self.table.get(in_organization(record.organization, task_sk(record.report_id, task))) is not None

    def tasks_with_pairs(self, record: ReportRecord) -> list[int]:
        """The tasks counted done that found pairs, in task order."""
        found, start = [], None
        while True:
            items, start = self.table.query_page(
                record.organization, prefix=f"{record_sk(record.report_id)}#TASK#", start_key=start,
                ProjectionExpression="task, pairs",
            )
            found += [item["task"] for item in items if item.get("pairs", 0) > 0]
            if start is None:
                return found

    def task_markers(self, record: ReportRecord) -> list[dict[str, Any]]:
        """Every task marker's key (to delete them once merged)."""
        keys, start = [], None
        while True:
            items, start = self.table.query_page(
                record.organization, prefix=f"{record_sk(record.report_id)}#TASK#", start_key=start,
                ProjectionExpression="pk, sk",
            )
            keys += items
            if start is None:
                return keys

    def delete_items(self, keys: list[dict[str, Any]]) -> None:
        self.table.delete_items(keys)

    def lease(self, record: ReportRecord, shards: tuple[ShardRef, ...]) -> None:
        """Keep ``shards`` until the report ends or reaches its deadline."""
        client("dynamodb").put_item(
            TableName=self.table.name,
            Item=to_item({
                **in_organization(record.organization, lease_sk(record.report_id)),
                "shards": [ref.to_dict() for ref in shards],
                "generation": record.generation,
                "expiration": int(record.deadline),
            }),
        )

    def release(self, record: ReportRecord) -> None:
        self.table.delete_items([in_organization(record.organization, lease_sk(record.report_id))])

    def leased_shards(self, organization: str, now: float) -> list[ShardRef]:
        """Every shard a report under way holds a lease on."""
        leased, start = [], None
        while True:
            items, start = self.table.query_page(organization, prefix=LEASE_PREFIX, start_key=start)
            leased += [ShardRef(**ref) for item in items if item.get("expiration", 0) > now for ref in item["shards"]]
            if start is None:
                return leased

    def _item(self, record: ReportRecord) -> dict[str, Any]:
        key = in_organization(record.organization, record_sk(record.report_id))
        return to_item({**key, **vars(record), "expiration": int(record.expires_at)})

    def _replace_request(self, record: ReportRecord, expected: tuple[str, ...]) -> dict[str, Any]:
        values = {f":s{number}": state for number, state in enumerate(expected)}
        return {"Put": {
            "TableName": self.table.name,
            "Item": self._item(record),
            "ConditionExpression": "#state IN (" + ", ".join(values) + ")",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": to_item(values),
        }}

    def _replace(self, record: ReportRecord, expected: tuple[str, ...]) -> bool:
        request = self._replace_request(record, expected)["Put"]
        try:
            client("dynamodb").put_item(**request)
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
            return False
        return True


class ReportObjects:
    """A report's plan, its tasks' pairs and its groups, in the bucket."""

    def __init__(self, shards: ShardStore) -> None:
        self.shards = shards
        self.bucket = shards.bucket

    def put_plan(self, plan: Plan) -> None:
        self._put(self._key(plan.organization, plan.generation, plan.report_id, "plan.json"), json.dumps(plan.to_json()).encode())

    def plan(self, organization: str, generation: int, report_id: str) -> Plan:
        return Plan.from_json(json.loads(self._get(self._key(organization, generation, report_id, "plan.json"))))

    def put_pairs(self, plan: Plan, task: int, pairs: Pairs) -> None:
        self._put(self._key(plan.organization, plan.generation, plan.report_id, f"pairs/{task:08d}.bin"), pairs.to_bytes())

    def pairs(self, plan: Plan, task: int) -> Pairs:
        return Pairs.from_bytes(self._get(self._key(plan.organization, plan.generation, plan.report_id, f"pairs/{task:08d}.bin")))

    def put_groups(self, record: ReportRecord, groups: list[dict[str, Any]]) -> None:
        key = self._key(record.organization, record.generation, record.report_id, "groups.json")
        self._put(key, json.dumps({"groups": groups}, separators=(",", ":")).encode())

    def groups(self, record: ReportRecord) -> list[dict[str, Any]]:
        key = self._key(record.organization, record.generation, record.report_id, "groups.json")
        return json.loads(self._get(key))["groups"]

    def delete_pairs(self, record: ReportRecord) -> None:
        """The tasks' pairs, every version: merged, they are the groups' and nothing else's."""
        self._delete_under(report_prefix(record.organization, record.generation, record.report_id) + "pairs/")

    def delete_report(self, organization: str, generation: int, report_id: str) -> None:
        """Every version of every object of the report."""
        self._delete_under(report_prefix(organization, generation, report_id))

    def _delete_under(self, prefix: str) -> None:
        more, start = True, None
        while more:
            _, more, start = self.shards.delete_versions_page(prefix, lambda _key: True, start)

    def _key(self, organization: str, generation: int, report_id: str, name: str) -> str:
        return report_prefix(organization, generation, report_id) + name

    def _put(self, key: str, body: bytes) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/octet-stream")

    def _get(self, key: str) -> bytes:
        try:
            return client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                raise ShardMissing(key) from None
            raise


class ReportTasks:
    """Task messages to the report queue: ``{"report_id": ..., "organization": ..., "task": n}``."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    def send(self, record: ReportRecord, tasks: list[int]) -> None:
        if not self.url:
            raise RuntimeError("FACEMATCH_REPORT_QUEUE_URL is not set: no duplicate report can run.")
        for start in range(0, len(tasks), 10):
            entries = [
                {"Id": str(task), "MessageBody": json.dumps(
                    {"report_id": record.report_id, "organization": record.organization, "task": task})}
                for task in tasks[start : start + 10]
            ]
            failed = client("sqs").send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed")
            if failed:  # the step fails, and its redelivery sends these again (a task sent twice runs once)
                raise RuntimeError(f"SQS refused {len(failed)} task message(s): {sorted({f.get('Code') for f in failed})}")
