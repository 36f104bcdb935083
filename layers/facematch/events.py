"""The function's non-HTTP events, read at the edge: the hourly schedule, job-queue batches, and
the S3 -> SQS upload notifications, turned into the inputs the use cases take."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from facematch.inputs import S3Upload

# The input template.yaml's schedule sends: {"facematch": "sweep"}.
SCHEDULED, SWEEP_EVENT = "facematch", "sweep"


def is_scheduled_sweep(event: dict[str, Any]) -> bool:
    return event.get(SCHEDULED) == SWEEP_EVENT


def _first_record(event: dict[str, Any]) -> dict[str, Any]:
    records = event.get("Records") or [{}]
    return records[0] if isinstance(records[0], dict) else {}


def is_job_event(event: dict[str, Any], queue_url: str | None) -> bool:
    """Whether a Lambda event is a batch from the job queue: the queue's name ends both its URL and
    the ARN in each record (an event source mapping delivers from one queue only)."""
    first = _first_record(event)
    if not queue_url or first.get("eventSource") != "aws:sqs":
        return False
    return str(first.get("eventSourceARN", "")).rsplit(":", 1)[-1] == queue_url.rstrip("/").rsplit("/", 1)[-1]


def is_queue_event(event: dict[str, Any]) -> bool:
    return _first_record(event).get("eventSource") == "aws:sqs"


def uploads_in(record: SQSRecord) -> list[S3Upload]:
    """The created objects an SQS message announces (none for S3's s3:TestEvent)."""
    body = record.json_body
    if "Records" not in body:
        return []
    return [
        S3Upload(
            bucket=notification.s3.bucket.name,
            # S3 URL-encodes keys in notifications: '+' for spaces, %XX for the rest.
            key=unquote_plus(notification.s3.get_object.key),
            version_id=notification.s3.get_object.version_id,
            etag=notification.s3.get_object.etag,
            size=notification.s3.get_object.size,
            event_time=notification.get("eventTime"),
        )
        for notification in S3Event(body).records
        if notification.event_name.startswith("ObjectCreated")
    ]
