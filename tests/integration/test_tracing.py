"""What X-Ray receives: trace documents never carry a response or an error of FaceMatch's code.

Traces are readable with ReadOnlyAccess, kept 30 days and out of reach of any purge, so an API
key, a vector or a match must never reach them. The X-Ray SDK is switched on as in Lambda and
given an emitter that keeps each document it would send to the daemon.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.context import Context
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch_local.queues import sqs_event
from facematch_local.resources import create_resources, load_template
from facematch_testing.api import invoke
from facematch_testing.events import api_event, multipart_event
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


class SentDocuments:
    """An X-Ray emitter that keeps the serialized segments instead of sending them over UDP."""

    def __init__(self) -> None:
        self.documents: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address: str | None) -> None:
        pass

    def traced(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` inside a segment, as Lambda's active tracing opens one per invocation."""
        with xray_recorder.in_segment("facematch"):
            return call()

    def text(self) -> str:
        return "\n".join(self.documents)

    def metadata(self) -> list[dict[str, Any]]:
        """The metadata of every segment and subsegment sent."""
        found = []
        pending = [json.loads(document) for document in self.documents]
        while pending:
            entity = pending.pop()
            found += [entity["metadata"]] if entity.get("metadata") else []
            pending += entity.get("subsegments", [])
        return found


@pytest.fixture
def xray() -> Iterator[SentDocuments]:
    sent = SentDocuments()
    saved = (xray_recorder.emitter, xray_recorder.context, xray_recorder.sampling)
    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)  # the tests' POWERTOOLS_TRACE_DISABLED switched it off
    xray_recorder.configure(emitter=sent, context=Context(), sampling=False)
    yield sent
    xray_recorder.emitter, xray_recorder.context, xray_recorder.sampling = saved
    global_sdk_config.set_sdk_enabled(was_enabled)


def test_traces_carry_no_api_key_vector_match_or_upload_outcome(
    xray, api_app, matching_app, lambda_context, organization
):
    photo = synthetic_photo("alice")
    event = api_event("POST", f"/api/organizations/{organization}/keys", path_parameters={"organization": organization})
    _, key = xray.traced(lambda: invoke(api_app, event, lambda_context))
    event = multipart_event(
        "enroll-multipart.json",
        [("organization", organization), ("include_embedding", "true")],
        [("images", "img1.jpg", photo)],
    )
    _, enrolled = xray.traced(lambda: invoke(api_app, event, lambda_context))
    # Another photo of the person: a score with six digits, which no timestamp in a trace repeats by chance.
    query = synthetic_photo("alice", 1)
    event = multipart_event("compare-multipart.json", [("organization", organization)], [("image", "img2.jpg", query)])
    _, compared = xray.traced(lambda: invoke(matching_app, event, lambda_context))
    label = f"label-{organization}"
    _upload_and_handle(api_app, lambda_context, f"uploads/{organization}/a.jpg", photo, label, xray)

    sent = xray.text()
    assert "## lambda_handler" in sent and "enroll_upload" in sent  # the documents were captured
    assert key["api_key"] not in sent
    assert json.dumps(enrolled["embeddings"][0]["embedding"][:3])[1:-1] not in sent
    score = json.dumps(compared["similarity_score"])  # as a captured response would write it
    assert len(score) >= 6 and score not in sent
    assert label not in sent
    assert xray.metadata() == []


def test_traces_carry_no_error_raised_in_a_traced_method(
    xray, api_app, lambda_context, organization, monkeypatch
):
    def throttled(*args, **kwargs):
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")

    monkeypatch.setattr("facematch.upload_store.UploadStore.read", throttled)
    photo = synthetic_photo("alice")
    failures = _upload_and_handle(api_app, lambda_context, f"uploads/{organization}/a.jpg", photo, "x", xray)
    assert len(failures) == 1  # the error went through enroll_upload's trace
    assert "enroll_upload" in xray.text()
    assert xray.metadata() == []


def test_the_template_turns_response_and_error_capture_off_for_every_function():
    template = load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    for name, resource in template["Resources"].items():
        overrides = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not {"POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"} & set(overrides), name


def _upload_and_handle(api_app, lambda_context, key: str, photo: bytes, label: str, xray) -> list:
    """Drop a photo into the inbox and hand its notification to the function, traced."""
    bucket = os.environ["FACEMATCH_BUCKET"]
    queue_url = create_resources(bucket, os.environ["FACEMATCH_TABLE"])["UploadQueue"]
    client("s3").put_object(Bucket=bucket, Key=key, Body=photo, Metadata={"external-id": label})
    messages = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    messages = [m for m in messages if "Records" in json.loads(m["Body"])]
    arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    response = xray.traced(lambda: api_app.lambda_handler(sqs_event(messages, arn), lambda_context))
    return response["batchItemFailures"]
