"""The S3 -> SQS -> Lambda upload path: reading S3 notifications, and Powertools' idempotency store."""

from __future__ import annotations

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)

from facematch.aws import client
from facematch.uploads import S3Upload

# S3 and SQS deliver at least once: the same object version is enrolled once for this long.
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
IDEMPOTENCY_PARTITION = "IDEMPOTENCY#uploads"
_PROVIDED_LAZILY = object()


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
        )
        for notification in S3Event(body).records
        if notification.event_name.startswith("ObjectCreated")
    ]


class _SharedClientPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB store, on FaceMatch's lazily created client (endpoint, moto, reuse)."""

    def __init__(self, **options: str) -> None:
        # Powertools builds and touches a client at init unless handed one; ours comes on first use.
        self._initialized = False
        super().__init__(boto3_client=_PROVIDED_LAZILY, **options)
        self._initialized = True

    @property
    def client(self):  # noqa: ANN201 - a boto3 client
        return client("dynamodb") if self._initialized else _PROVIDED_LAZILY

    @client.setter
    def client(self, _ignored) -> None:  # Powertools assigns a client of its own at init
        pass


def upload_idempotency(table_name: str) -> tuple[IdempotencyConfig, DynamoDBPersistenceLayer]:
    """One object (bucket, key, version or ETag) is one enrollment, however often it is delivered."""
    config = IdempotencyConfig(
        event_key_jmespath="[bucket, key, version_id, etag]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    store = _SharedClientPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=IDEMPOTENCY_PARTITION,
        expiry_attr="expiration",
    )
    return config, store
