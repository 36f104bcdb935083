"""Duplicate reports in tests: faces committed from given vectors, a report started and read over
the API, and the report queue drained through the report function's handler, as Lambda's SQS
event source would hand it the messages (a message that fails comes back)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np

from facematch.aws import client
from facematch.catalog import EmbeddingRecord, to_item
from facematch.catalog import _keys as item_keys  # the catalog's own item layout
from facematch_local.context import LambdaContext
from facematch_local.queues import sqs_event
from facematch_testing.api import invoke, request
from facematch_testing.events import ADMIN, json_event


def commit_faces(service, organization: str, vectors: np.ndarray, labels: list[str | None] | None = None, *, shard_rows: int = 0) -> np.ndarray:
    """Commit ``vectors`` as the organization's faces (shards of ``shard_rows``, or one), each with
    its metadata and label; their embed_ids, in row order."""
    model = service.settings.model
    ids = np.asarray(service.catalog.allocate_ids(organization, len(vectors)), np.int64)
    rows = shard_rows or len(vectors)
    for start in range(0, len(vectors), rows):
        service.writes.commit_vectors(organization, model, ids[start : start + rows], vectors[start : start + rows])
    manifest = service.shards.read_manifest(organization)
    labels = labels or [None] * len(vectors)
    records = [
        EmbeddingRecord(
            organization=organization, embed_id=int(embed_id), created_at="2026-12-01T10:00:00.000Z", model=model,
            face={"x": 1, "y": 2, "w": 30, "h": 30, "confidence": 1.0}, shard="bulk", source=f"face-{embed_id}.jpg",
            external_id=label, generation=manifest.generation,
        )
        for embed_id, label in zip(ids.tolist(), labels, strict=True)
    ]
    puts = [{"PutRequest": {"Item": to_item({**key, **asdict(r)})}} for r in records for key in item_keys(r)]
    for start in range(0, len(puts), 25):
        batch = {service.catalog.table_name: puts[start : start + 25]}
        while batch:
            batch = client("dynamodb").batch_write_item(RequestItems=batch).get("UnprocessedItems")
    return ids


def start_report(app, organization: str | None, caller=ADMIN, **fields: Any) -> tuple[int, dict[str, Any]]:
    payload = {**({"organization": organization} if organization else {}), **fields}
    event = json_event("enroll-json.json", payload, caller)
    event.update(path="/api/duplicate-reports", resource="/api/duplicate-reports")
    event["requestContext"].update(resourcePath="/api/duplicate-reports", path="/prod/api/duplicate-reports")
    return invoke(app, event, LambdaContext())


def read_report(app, organization: str, report_id: str, caller=ADMIN, **query: Any) -> tuple[int, dict[str, Any]]:
    parameters = {"organization": organization, **{name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in query.items()}}
    return request(app, LambdaContext(), "GET", f"/api/duplicate-reports/{report_id}", parameters, {"report_id": report_id}, caller)


def cancel_report(app, organization: str, report_id: str, caller=ADMIN) -> tuple[int, dict[str, Any]]:
    return request(app, LambdaContext(), "DELETE", f"/api/duplicate-reports/{report_id}", {"organization": organization}, {"report_id": report_id}, caller)


def every_group(app, organization: str, report_id: str, **query: Any) -> list[list[int]]:
    """Every group's members, page after page."""
    groups, token = [], None
    while True:
        status, body = read_report(app, organization, report_id, **query, **({"next_token": token} if token else {}))
        assert status == 200, body
        groups += [[member["embed_id"] for member in group["members"]] for group in body["groups"]]
        token = body["next_token"]
        if not token:
            return groups


def receive(queue_url: str, most: int = 10) -> list[dict[str, Any]]:
    return client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=most, AttributeNames=["All"]).get("Messages", [])


def deliver(worker_app, queue_url: str, message: dict[str, Any]) -> bool:
    """Hand one message to the report function as its SQS event source would; delete it if it
    succeeded, else make it visible again at once (its redelivery). Whether it succeeded."""
    arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        response = worker_app.lambda_handler(sqs_event([message], arn), LambdaContext("ReportFunction", 1769, 900))
        failed = bool(response.get("batchItemFailures"))
    except Exception:  # noqa: BLE001 - the invocation crashed: the message comes back
        failed = True
    if failed:
        client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    else:
        client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return not failed


def drain(worker_app, queue_url: str, *, most: int = 10_000) -> int:
    """Deliver messages until the queue is empty; how many deliveries."""
    delivered = 0
    while delivered < most:
        messages = receive(queue_url)
        if not messages:
            return delivered
        for message in messages:
            deliver(worker_app, queue_url, message)
            delivered += 1
    raise AssertionError(f"the report queue still had messages after {most} deliveries")


def bodies(queue_url: str) -> list[dict[str, Any]]:
    """What waits in the queue now (made visible again at once)."""
    messages = receive(queue_url)
    for message in messages:
        client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [json.loads(message["Body"]) for message in messages]
