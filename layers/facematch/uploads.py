"""Photos dropped into the bucket under ``uploads/<organization>/``: where they come from and how to read them."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import BaseModel

from facematch.aws import client
from facematch.errors import ImageTooLarge, InvalidRequest, UploadNotFound

logger = Logger()
UPLOAD_PREFIX = "uploads/"
EXTERNAL_ID_METADATA = "external-id"  # x-amz-meta-external-id


class S3Upload(BaseModel):
    """One created object, as an S3 event notification names it (key already URL-decoded)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    # When S3 received the object (the notification's eventTime): the same on every redelivery.
    event_time: str | None = None


@dataclass(frozen=True)
class UploadedPhoto:
    data: bytes
    size: int
    external_id: str | None


def organization_of(key: str) -> str:
    """``uploads/<organization>/<anything>`` -> organization."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] + "/" != UPLOAD_PREFIX or not parts[1] or not parts[-1]:
        raise InvalidRequest(f"Upload keys look like {UPLOAD_PREFIX}<organization>/<file>; got {key!r}.")
    return parts[1]


def read_upload(upload: S3Upload, max_bytes: int) -> UploadedPhoto:
    """Read the uploaded object (that exact version), refusing oversized ones before downloading."""
    request = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id:
        request["VersionId"] = upload.version_id
    try:
        head = client("s3").head_object(**request)
        if head["ContentLength"] > max_bytes:
            raise ImageTooLarge(
                f"The upload is {head['ContentLength']} bytes; the limit is {max_bytes} bytes."
            )
        response = client("s3").get_object(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NoSuchVersion"}:
            raise UploadNotFound(f"{upload.key} no longer exists.") from error
        raise
    return UploadedPhoto(
        data=response["Body"].read(),
        size=response["ContentLength"],
        external_id=response.get("Metadata", {}).get(EXTERNAL_ID_METADATA),
    )


def delete_upload(upload: S3Upload) -> None:
    """Remove a processed photo from the inbox (that version, so nothing lingers).

    Best effort: the outcome is already recorded, and the bucket's lifecycle rule expires
    whatever is left under uploads/ within a day.
    """
    request = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id:
        request["VersionId"] = upload.version_id
    try:
        client("s3").delete_object(**request)
    except ClientError:
        logger.warning("Could not delete a processed upload", extra={"key": upload.key}, exc_info=True)


UPLOAD_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
PRESIGNED_URL_SECONDS = 900


def presign_upload(
    bucket: str, key: str, *, content_type: str, size: int, external_id: str | None
) -> tuple[str, dict[str, str]]:
    """A PUT URL for exactly this key, type and size: S3 refuses any other.

    The URL is SigV4 (``facematch.aws``), so ContentLength, ContentType and the label become
    signed headers (``X-Amz-SignedHeaders``) rather than unchecked query parameters.
    """
    params = {"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": size}
    headers = {"Content-Type": content_type, "Content-Length": str(size)}
    if external_id:
        params["Metadata"] = {EXTERNAL_ID_METADATA: external_id}
        headers[f"x-amz-meta-{EXTERNAL_ID_METADATA}"] = external_id
    url = client("s3").generate_presigned_url(
        "put_object", Params=params, ExpiresIn=PRESIGNED_URL_SECONDS
    )
    return url, headers
