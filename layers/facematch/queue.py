"""The S3 -> SQS -> Lambda upload path: reading S3 notifications (upload_enrollment.py enrolls them once)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from facematch.uploads import S3Upload


def is_queue_event(event: dict) -> bool:
    records = event.get("Records") or [{}]
    return records[0].get("eventSource") == "aws:sqs"


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
