"""Where uploads live (data access): photos in the bucket's inbox, ``uploads/<organization>/``,
and the record of each one's outcome in the table (``UPLOAD#...``, table.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.errors import ImageTooLarge, UploadNotFound
from facematch.inputs import S3Upload
from facematch.models import UploadOutcome
from facematch.table import UPLOAD_RECORD_PREFIX, Table, in_organization, to_item, upload_sk

logger = Logger()
EXTERNAL_ID_METADATA = "external-id"  # x-amz-meta-external-id
QUALITY_FILTER_METADATA = "quality-filter"  # x-amz-meta-quality-filter
ON_DUPLICATE_METADATA = "on-duplicate"  # x-amz-meta-on-duplicate
PRESIGNED_URL_SECONDS = 900


@dataclass(frozen=True)
class UploadedPhoto:
    data: bytes
    size: int
    # As the uploader wrote them: the caller checks them.
    external_id: str | None
    quality_filter: str | None
    on_duplicate: str | None


def upload_record_sk(received_at: str, key: str) -> str:
    """The sort key of an upload's record, which the face it enrolled names."""
    return upload_sk(received_at, key)


def _version(upload: S3Upload) -> dict[str, str]:
    request = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id:
        request["VersionId"] = upload.version_id
    return request


class UploadStore:
    def __init__(self, bucket: str, table_name: str | None = None) -> None:
        self.bucket = bucket
        self.table = Table(table_name)

    def presign(
        self, key: str, *, content_type: str, size: int, metadata: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        """A PUT URL for exactly this key, type, size and metadata (``EXTERNAL_ID_METADATA``...):
        S3 refuses any other.

        The URL is SigV4 (``facematch.aws``), so ContentLength, ContentType and the metadata become
        signed headers (``X-Amz-SignedHeaders``) rather than unchecked query parameters.
        """
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size}
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        if metadata:
            params["Metadata"] = metadata
            headers.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        url = client("s3").generate_presigned_url("put_object", Params=params, ExpiresIn=PRESIGNED_URL_SECONDS)
        return url, headers

    def read(self, upload: S3Upload, max_bytes: int) -> UploadedPhoto:
        """Read the uploaded object (that exact version), refusing oversized ones before downloading.
        The label is the object's metadata, as the uploader wrote it: the caller checks it."""
        try:
            head = client("s3").head_object(**_version(upload))
            if head["ContentLength"] > max_bytes:
                raise ImageTooLarge(f"The upload is {head['ContentLength']} bytes; the limit is {max_bytes} bytes.")
            response = client("s3").get_object(**_version(upload))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NoSuchVersion"}:
                raise UploadNotFound(f"{upload.key} no longer exists.") from error
            raise
        metadata = response.get("Metadata", {})
        return UploadedPhoto(
            data=response["Body"].read(),
            size=response["ContentLength"],
            external_id=metadata.get(EXTERNAL_ID_METADATA),
            quality_filter=metadata.get(QUALITY_FILTER_METADATA),
            on_duplicate=metadata.get(ON_DUPLICATE_METADATA),
        )

    def delete(self, upload: S3Upload) -> None:
        """Remove a processed photo from the inbox (that version, so nothing lingers).

        Best effort: the outcome is already recorded, and the bucket's lifecycle rule expires
        whatever is left under uploads/ within a day.
        """
        try:
            client("s3").delete_object(**_version(upload))
        except ClientError:
            logger.warning("Could not delete a processed upload", extra={"key": upload.key}, exc_info=True)

    def record(self, outcome: UploadOutcome, *, expires_at: int) -> None:
        """Record an upload's outcome, kept until ``expires_at`` (DynamoDB TTL, and the sweeper)."""
        item = {
            **in_organization(outcome.organization, upload_record_sk(outcome.received_at, outcome.key)),
            "expiration": expires_at,
            **outcome.model_dump(exclude_none=True),
        }
        client("dynamodb").put_item(TableName=self.table.name, Item=to_item(item))

    def recent(
        self,
        organization: str,
        limit: int,
        *,
        now: int,
        status: str | None = None,
        start_key: dict[str, Any] | None = None,
    ) -> tuple[list[UploadOutcome], dict[str, Any] | None]:
        """A page of upload records not yet expired, newest first, of one ``status`` or any, and
        the key the next page starts after. DynamoDB filters after it reads ``limit`` records, so
        a page may hold fewer (none, even) while more follow."""
        condition = "(attribute_not_exists(expiration) OR expiration > :now)"
        values: dict[str, Any] = {":now": now}
        names = {}
        if status:
            condition += " AND #status = :status"
            values[":status"] = status
            names["#status"] = "status"  # a reserved word
        items, last_key = self.table.query_page(
            organization,
            prefix=UPLOAD_RECORD_PREFIX,
            start_key=start_key,
            FilterExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [UploadOutcome.model_validate(item) for item in items], last_key
