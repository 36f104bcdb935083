"""Photos dropped under uploads/<organization>/ reach the API function through SQS, once."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.inputs import ImageInput
from facematch_local.queues import sqs_event
from facematch_testing.api import invoke
from facematch_testing.events import api_event, load_event, multipart_event
from facematch_testing.photos import blank_image
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]


@pytest.fixture
def queue_url(aws) -> str:
    return aws["UploadQueue"]


def upload(key: str, content: bytes, **metadata: str) -> None:
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=content, Metadata=metadata)


def delivered(queue_url: str) -> list[dict]:
    """Every message moto put on the queue for the uploads so far (S3's s3:TestEvent included)."""
    messages = []
    while batch := client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
    return messages


def handle(api_app, lambda_context, messages, queue_url) -> list[str]:
    """Hand the messages to the function as one batch; returns the ids it reports as failed."""
    arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    response = api_app.lambda_handler(sqs_event(messages, arn["Attributes"]["QueueArn"]), lambda_context)
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def uploads_listing(api_app, lambda_context, organization) -> list[dict]:
    status, body = invoke(api_app, api_event("GET", "/api/uploads", {"organization": organization}), lambda_context)
    assert status == 200, body
    return body["uploads"]


def test_uploaded_photos_are_enrolled_with_their_label_and_found_by_compare(
    api_app, matching_app, lambda_context, organization, queue_url
):
    upload(f"uploads/{organization}/angelina.jpg", synthetic_photo("angelina"), **{"external-id": "person:angelina"})
    upload(f"uploads/{organization}/jennifer.jpg", synthetic_photo("jennifer"))
    assert handle(api_app, lambda_context, delivered(queue_url), queue_url) == []

    result = matching_app.service.matching.compare(organization, ImageInput("q", synthetic_photo("angelina", 1)))
    assert result.match and result.external_id == "person:angelina"
    statuses = {u["key"]: (u["status"], u.get("external_id")) for u in uploads_listing(api_app, lambda_context, organization)}
    assert statuses == {
        f"uploads/{organization}/angelina.jpg": ("enrolled", "person:angelina"),
        f"uploads/{organization}/jennifer.jpg": ("enrolled", None),
    }


def test_the_same_message_handled_twice_enrolls_one_embedding(
    api_app, lambda_context, organization, queue_url
):
    upload(f"uploads/{organization}/a.jpg", synthetic_photo("angelina"))
    messages = delivered(queue_url)
    assert handle(api_app, lambda_context, messages, queue_url) == []
    assert handle(api_app, lambda_context, messages, queue_url) == []
    assert api_app.service.vectors.refresh(organization, "Dlib") == 1
    assert len(uploads_listing(api_app, lambda_context, organization)) == 1


def test_a_bad_photo_in_a_batch_is_recorded_as_failed_and_not_retried(
    api_app, lambda_context, organization, queue_url
):
    upload(f"uploads/{organization}/good.jpg", synthetic_photo("angelina"))
    upload(f"uploads/{organization}/wall.png", blank_image())
    upload(f"uploads/{organization}/notes.jpg", b"not a photo")
    upload(f"uploads/{organization}/huge.jpg", b"\0" * (20 * 1024 * 1024 + 1))
    assert handle(api_app, lambda_context, delivered(queue_url), queue_url) == []
    listing = {u["key"].rsplit("/", 1)[-1]: u for u in uploads_listing(api_app, lambda_context, organization)}
    assert listing["good.jpg"]["status"] == "enrolled" and listing["good.jpg"]["embed_id"] == 1
    assert {name: u["error"]["code"] for name, u in listing.items() if u["status"] == "failed"} == {
        "wall.png": "NO_FACE_DETECTED",
        "notes.jpg": "INVALID_IMAGE",
        "huge.jpg": "IMAGE_TOO_LARGE",
    }


def test_keys_with_spaces_plus_signs_and_unicode_are_decoded(
    api_app, lambda_context, organization, queue_url
):
    keys = [f"uploads/{organization}/summer 2026/Zoë + friend.jpg", f"uploads/{organization}/日本語.jpg"]
    for key in keys:
        upload(key, synthetic_photo("angelina"))
    assert handle(api_app, lambda_context, delivered(queue_url), queue_url) == []
    listing = uploads_listing(api_app, lambda_context, organization)
    assert sorted(u["key"] for u in listing) == sorted(keys)
    assert all(u["status"] == "enrolled" for u in listing)


def test_a_transient_failure_is_reported_for_retry_and_the_retry_enrolls(
    api_app, lambda_context, organization, queue_url, monkeypatch
):
    upload(f"uploads/{organization}/a.jpg", synthetic_photo("angelina"))
    messages = [m for m in delivered(queue_url) if "Records" in json.loads(m["Body"])]
    throttled = ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")

    def slow_down(*args, **kwargs):
        raise throttled

    monkeypatch.setattr("facematch.upload_store.UploadStore.read", slow_down)
    assert handle(api_app, lambda_context, messages, queue_url) == [messages[0]["MessageId"]]
    assert uploads_listing(api_app, lambda_context, organization) == []
    monkeypatch.undo()
    assert handle(api_app, lambda_context, messages, queue_url) == []
    assert [u["status"] for u in uploads_listing(api_app, lambda_context, organization)] == ["enrolled"]


def test_the_s3_test_event_and_objects_outside_uploads_enroll_nothing(
    api_app, lambda_context, organization, queue_url
):
    upload(f"orgs/{organization}/elsewhere.jpg", synthetic_photo("angelina"))
    messages = delivered(queue_url)
    assert all("Records" not in json.loads(m["Body"]) for m in messages)  # only s3:TestEvent
    assert handle(api_app, lambda_context, messages, queue_url) == []
    assert api_app.service.vectors.refresh(organization, "Dlib") == 0


def test_the_committed_sample_upload_event_is_read_as_a_decoded_key(api_app):
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from facematch.events import uploads_in

    (record,) = load_event("sqs-s3-upload.json")["Records"]
    (found,) = uploads_in(SQSRecord(record))
    assert found.key == "uploads/MyOrganization/person 1.jpg"
    assert found.version_id and found.etag



def test_an_upload_url_is_signed_with_sigv4_over_the_photos_size_type_and_label(
    api_app, lambda_context, organization
):
    fields = {"organization": organization, "filename": "big.jpg", "content_type": "image/jpeg", "size": "5242880"}
    event = multipart_event("enroll-multipart.json", [*fields.items(), ("external_id", "person-1")], [])
    event.update(path="/api/uploads", resource="/api/uploads")
    status, upload = invoke(api_app, event, lambda_context)
    assert status == 201, upload
    query = parse_qs(urlsplit(upload["url"]).query)
    # SigV2 (AWSAccessKeyId, Signature) signs no header: S3 would take a PUT of any size.
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "Signature" not in query and "AWSAccessKeyId" not in query
    assert query["X-Amz-Credential"][0].split("/")[2:4] == ["us-east-1", "s3"]
    signed = set(query["X-Amz-SignedHeaders"][0].split(";"))
    assert signed == {"host", "content-length", "content-type", "x-amz-meta-external-id"}
    # The caller is told every signed header it must send, with the signed values.
    assert {name.lower() for name in upload["headers"]} == signed - {"host"}
    assert upload["headers"]["Content-Length"] == "5242880"
    assert upload["headers"]["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("content_type", "size", "status", "code"),
    [
        ("image/jpeg", str(20 * 1024 * 1024 + 1), 413, "IMAGE_TOO_LARGE"),  # one byte over max_upload_bytes
        ("image/jpeg", "0", 400, "VALIDATION_ERROR"),
        ("image/gif", "1000", 400, "VALIDATION_ERROR"),
    ],
)
def test_no_upload_url_is_issued_for_a_photo_too_large_empty_or_of_another_type(
    api_app, lambda_context, organization, content_type, size, status, code
):
    fields = {"organization": organization, "filename": "a.jpg", "content_type": content_type, "size": size}
    event = multipart_event("enroll-multipart.json", list(fields.items()), [])
    event.update(path="/api/uploads", resource="/api/uploads")
    answer, body = invoke(api_app, event, lambda_context)
    assert (answer, body["error"]["code"]) == (status, code), body


@pytest.mark.parametrize("label", ["has space", "person/1", "x" * 256])
def test_an_upload_whose_label_metadata_is_malformed_is_recorded_as_failed_and_enrolls_nothing(
    api_app, lambda_context, organization, queue_url, label
):
    # Whoever can write the bucket writes the metadata, past the presigned URL's checks.
    upload(f"uploads/{organization}/a.jpg", synthetic_photo("angelina"), **{"external-id": label})
    assert handle(api_app, lambda_context, delivered(queue_url), queue_url) == []
    (outcome,) = uploads_listing(api_app, lambda_context, organization)
    assert (outcome["status"], outcome["error"]["code"]) == ("failed", "VALIDATION_ERROR")
    assert api_app.service.vectors.refresh(organization, "Dlib") == 0


@pytest.mark.parametrize("key", ["uploads/../x.jpg", "uploads/acme corp/x.jpg", "uploads/-rf/x.jpg", "uploads/x.jpg"])
def test_an_upload_outside_any_valid_organization_is_answered_as_failed_and_enrolls_nothing(
    api_app, lambda_context, queue_url, key
):
    upload(key, synthetic_photo("angelina"))
    assert handle(api_app, lambda_context, delivered(queue_url), queue_url) == []
    assert client("dynamodb").scan(TableName=api_app.service.settings.table)["Items"] == []


def test_the_uploads_listing_pages_past_100_newest_first_and_filters_by_status(api_app, lambda_context, organization):
    """A bulk import's audit: every outcome of the week, each once, through signed page tokens."""
    from facematch.models import UploadOutcome
    from facematch.uploads import UPLOAD_RECORD_SECONDS

    statuses = ("enrolled", "failed", "skipped")
    service = api_app.service
    for n in range(150):
        outcome = UploadOutcome(
            key=f"uploads/{organization}/{n:03d}.jpg", organization=organization, status=statuses[n % 3],
            received_at=f"2026-12-01T10:{n // 60:02d}:{n % 60:02d}.000Z",
            error={"code": "NO_FACE_DETECTED", "message": "none"} if n % 3 == 1 else None,
        )
        service.uploads.store.record(outcome, expires_at=int(service.clock()) + UPLOAD_RECORD_SECONDS)

    def every_page(**query: str) -> tuple[list[str], int]:
        keys, token, pages = [], None, 0
        while True:
            status, body = invoke(
                api_app,
                api_event("GET", "/api/uploads", {"organization": organization, **query, **({"next_token": token} if token else {})}),
                lambda_context,
            )
            assert status == 200, body
            keys += [upload["key"] for upload in body["uploads"]]
            pages += 1
            token = body["next_token"]
            if not token:
                return keys, pages

    listed, pages = every_page(limit="40")
    assert listed == [f"uploads/{organization}/{n:03d}.jpg" for n in reversed(range(150))] and pages == 4
    for number, status in enumerate(statuses):
        kept, _ = every_page(limit="40", status=status)
        assert kept == [f"uploads/{organization}/{n:03d}.jpg" for n in reversed(range(150)) if n % 3 == number]

    status, first = invoke(api_app, api_event("GET", "/api/uploads", {"organization": organization, "status": "failed"}), lambda_context)
    assert len(first["uploads"]) <= 50 and first["next_token"]
    query = {"organization": organization, "status": "enrolled", "next_token": first["next_token"]}
    status, body = invoke(api_app, api_event("GET", "/api/uploads", query), lambda_context)
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN")  # another filter's token
    status, body = invoke(api_app, api_event("GET", "/api/uploads", {"organization": organization, "status": "lost"}), lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
