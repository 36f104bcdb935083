"""POST /api/embeddings with an Idempotency-Key: a retry gets the first answer and enrolls nothing new."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from facematch.aws import client
from facematch.idempotency import IN_PROGRESS_SECONDS
from facematch_testing.api import invoke, request
from facematch_testing.events import json_event, multipart_event, organization_key
from facematch_testing.faults import AFTER, BEFORE, Crash, Fault, crash, injecting
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def keyed_event(organization: str, photos: list[str], key: str | None, header: str = "Idempotency-Key", **fields: Any) -> dict:
    event = multipart_event(
        "enroll-multipart.json",
        [("organization", organization)] + [(name, str(value)) for name, value in fields.items()],
        [("images", f"{person}.jpg", synthetic_photo(person)) for person in photos],
    )
    return with_header(event, header, key) if key is not None else event


def with_header(event: dict, name: str, value: str) -> dict:
    """As API Gateway passes a header: in both ``headers`` and ``multiValueHeaders``."""
    event["headers"][name] = value
    event["multiValueHeaders"][name] = [value]
    return event


def call(app, context, event) -> tuple[int, dict, dict]:  # noqa: ANN001
    response = app.lambda_handler(event, context)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {name.lower(): values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], json.loads(body), headers


def held(app, context, organization: str) -> list[int]:  # noqa: ANN001
    status, body = request(app, context, "GET", "/api/embeddings", {"organization": organization})
    assert status == 200, body
    return [embedding["embed_id"] for embedding in body["embeddings"]]


def test_a_retry_with_the_same_key_gets_the_first_answer_and_enrolls_nothing_new(api_app, lambda_context, organization):
    first = call(api_app, lambda_context, keyed_event(organization, ["ann"], "order-1", external_id="ann"))
    # A retry is a new multipart body (curl picks a new boundary), and the header's case may differ.
    second = call(api_app, lambda_context, keyed_event(organization, ["ann"], "order-1", "idempotency-key", external_id="ann"))
    assert first[0] == second[0] == 201
    assert second[1] == first[1]
    assert "idempotent-replayed" not in first[2] and second[2]["idempotent-replayed"] == "true"
    assert held(api_app, lambda_context, organization) == [first[1]["embed_id"]]


def test_the_same_key_with_another_request_is_a_409(api_app, lambda_context, organization):
    assert call(api_app, lambda_context, keyed_event(organization, ["ann"], "k", external_id="ann"))[0] == 201
    for changed in (
        keyed_event(organization, ["bob"], "k", external_id="ann"),  # another photo
        keyed_event(organization, ["ann"], "k", external_id="bob"),  # another field
        keyed_event(organization, ["ann"], "k", external_id="ann", include_embedding="true"),
        keyed_event(organization, ["ann", "bob"], "k", external_id="ann"),
    ):
        status, body, _ = call(api_app, lambda_context, changed)
        assert (status, body["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert len(held(api_app, lambda_context, organization)) == 1


def test_a_key_belongs_to_its_organization(api_app, lambda_context, organization):
    mine = call(api_app, lambda_context, keyed_event(organization, ["ann"], "shared"))
    event = keyed_event("other-" + organization, ["ann"], "shared")
    event["requestContext"]["authorizer"] = organization_key("other-" + organization)
    theirs = call(api_app, lambda_context, event)
    assert mine[0] == theirs[0] == 201
    assert "idempotent-replayed" not in theirs[2]
    assert theirs[1]["organization"] == "other-" + organization


def test_a_retry_after_a_crash_between_the_commit_and_the_answer_enrolls_once(
    api_app, lambda_context, organization, monkeypatch
):
    with injecting() as injector:
        # The second PutObject is the manifest commit; the process dies as it lands.
        injector.fault = Fault(1, AFTER, crash(injector), operation="s3.PutObject")
        with pytest.raises(Crash):
            call(api_app, lambda_context, keyed_event(organization, ["ann"], "after-crash"))
    committed = held(api_app, lambda_context, organization)
    assert len(committed) == 1  # it landed; nobody got the answer

    status, body, _ = call(api_app, lambda_context, keyed_event(organization, ["ann"], "after-crash"))
    assert (status, body["error"]["code"]) == (409, "IN_PROGRESS")  # for all the retry knows, it runs

    clock = api_app.service.enrollment.once.clock
    monkeypatch.setattr(api_app.service.enrollment.once, "clock", lambda: clock() + IN_PROGRESS_SECONDS + 1)
    status, body, headers = call(api_app, lambda_context, keyed_event(organization, ["ann"], "after-crash"))
    assert status == 201 and [e["embed_id"] for e in body["embeddings"]] == committed
    assert held(api_app, lambda_context, organization) == committed


def test_a_second_request_while_the_first_runs_gets_409_in_progress_and_nothing_is_enrolled_twice(
    api_app, lambda_context, organization
):
    answers: list = []

    def second_request(_call) -> None:  # noqa: ANN001
        with injector.paused():
            answers.append(call(api_app, lambda_context, keyed_event(organization, ["ann"], "twice")))

    with injecting() as injector:
        injector.fault = Fault(0, BEFORE, second_request, operation="s3.PutObject")  # mid-way: before its shard
        first = call(api_app, lambda_context, keyed_event(organization, ["ann"], "twice"))
    assert first[0] == 201
    assert [(status, body["error"]["code"]) for status, body, _ in answers] == [(409, "IN_PROGRESS")]
    assert held(api_app, lambda_context, organization) == [first[1]["embed_id"]]
    again = call(api_app, lambda_context, keyed_event(organization, ["ann"], "twice"))
    assert again[1] == first[1] and again[2]["idempotent-replayed"] == "true"


def test_a_client_error_is_replayed_and_a_failure_worth_retrying_is_not_kept(api_app, lambda_context, organization):
    event = multipart_event("enroll-multipart.json", [("organization", organization)], [("images", "x.png", b"not an image")])
    event = with_header(event, "Idempotency-Key", "bad-photo")
    first = call(api_app, lambda_context, event)
    assert first[0] == 400
    replay = call(api_app, lambda_context, event)
    assert replay[:2] == first[:2] and replay[2]["idempotent-replayed"] == "true"

    request(api_app, lambda_context, "DELETE", f"/api/organizations/{organization}", None, {"organization": organization})
    with injecting() as injector:  # S3 fails the commit: a 500 worth retrying
        injector.fault = Fault(1, BEFORE, lambda _call: (_ for _ in ()).throw(ConnectionError("S3 down")), operation="s3.PutObject")
        assert call(api_app, lambda_context, keyed_event(organization, ["ann"], "retry-me"))[0] == 500
    assert call(api_app, lambda_context, keyed_event(organization, ["ann"], "retry-me"))[0] == 201


def test_the_body_can_carry_the_key_instead_of_the_header(api_app, lambda_context, organization):
    photo = base64.b64encode(synthetic_photo("ann")).decode()
    payload = {"organization": organization, "images": [photo], "idempotency_key": "in-the-body"}
    first = invoke(api_app, json_event("enroll-json.json", payload), lambda_context)
    second = invoke(api_app, json_event("enroll-json.json", payload), lambda_context)
    assert first == second and first[0] == 201
    assert held(api_app, lambda_context, organization) == [first[1]["embed_id"]]
    both = with_header(json_event("enroll-json.json", payload), "Idempotency-Key", "another")
    status, body = invoke(api_app, both, lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize("key", ["", " padded", "padded ", "x" * 256, "tab\there", "ünïcode"])
def test_a_malformed_key_is_a_400_and_enrolls_nothing(api_app, lambda_context, organization, key):
    status, body, _ = call(api_app, lambda_context, keyed_event(organization, ["ann"], key))
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert held(api_app, lambda_context, organization) == []


def test_stored_answers_are_erased_with_the_faces_they_name(api_app, lambda_context, organization):
    call(api_app, lambda_context, keyed_event(organization, ["ann"], "a", external_id="ann", include_embedding="true"))
    call(api_app, lambda_context, keyed_event(organization, ["bob"], "b", external_id="bob"))

    def answers() -> list[str]:
        items = client("dynamodb").scan(TableName=api_app.service.settings.table)["Items"]
        return [json.dumps(item) for item in items if item["sk"]["S"].startswith(("IDEM#", "SOURCE#"))]

    assert len(answers()) == 4
    request(api_app, lambda_context, "DELETE", "/api/embeddings", {"organization": organization, "external_id": "ann"})
    assert len(answers()) == 2 and not [a for a in answers() if "ann" in a]
    # The key is forgotten with the face: the same request enrolls again, as a new one.
    again = call(api_app, lambda_context, keyed_event(organization, ["ann"], "a", external_id="ann", include_embedding="true"))
    assert again[0] == 201 and "idempotent-replayed" not in again[2]

    request(api_app, lambda_context, "DELETE", f"/api/organizations/{organization}", None, {"organization": organization})
    assert answers() == []


def keyed_enrollment(service, organization: str, key: str):  # noqa: ANN001, ANN201
    from facematch.inputs import ImageInput

    return service.enrollment.enroll_once(
        organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], key=key, external_id="ann"
    )


def test_at_every_call_of_a_keyed_enrollment_a_retry_or_a_crash_never_enrolls_twice(api_app, monkeypatch):
    from facematch.errors import FaceMatchError

    service = api_app.service
    with injecting() as counting:
        keyed_enrollment(service, "org-count-calls", "k")
    clock = service.writes.once.clock
    for at in range(len(counting.calls)):
        for intrusion in ("retry", "crash"):
            organization = f"org-{intrusion}-{at}"
            answers: list = []
            with injecting() as injector:
                if intrusion == "retry":

                    def retry(_call, injector=injector, organization=organization) -> None:  # noqa: ANN001
                        with injector.paused():
                            try:
                                answers.append(keyed_enrollment(service, organization, "k").status)
                            except FaceMatchError as error:
                                answers.append(error.code)

                    injector.fault = Fault(at, BEFORE, retry)
                else:
                    injector.fault = Fault(at, BEFORE, crash(injector))
                try:
                    answers.append(keyed_enrollment(service, organization, "k").status)
                except Crash:  # a new process retries once the dead one's claim ran out
                    injector.crashed, injector.fault = False, None
                    monkeypatch.setattr(service.writes.once, "clock", lambda: clock() + IN_PROGRESS_SECONDS + 1)
                    answers.append(keyed_enrollment(service, organization, "k").status)
                    monkeypatch.setattr(service.writes.once, "clock", clock)
            listed = [e.embed_id for e in service.holdings.list_embeddings(organization).embeddings]
            assert len(listed) == 1, (intrusion, at, counting.calls[at], answers, listed)
            assert answers[-1] == 201 and set(answers[:-1]) <= {201, "IN_PROGRESS"}, (intrusion, at, answers)


def test_a_claim_left_behind_by_an_interrupted_deletion_is_not_answered_with_an_erased_face(
    api_app, lambda_context, organization
):
    table = api_app.service.settings.table
    first = call(api_app, lambda_context, keyed_event(organization, ["ann"], "stale", external_id="ann"))
    claims = [
        item for item in client("dynamodb").scan(TableName=table)["Items"]
        if item["pk"]["S"] == f"ORG#{organization}" and item["sk"]["S"].startswith("SOURCE#")
    ]
    request(api_app, lambda_context, "DELETE", "/api/embeddings", {"organization": organization, "external_id": "ann"})
    client("dynamodb").put_item(TableName=table, Item=claims[0])  # as if the deletion stopped before it

    again = call(api_app, lambda_context, keyed_event(organization, ["ann"], "stale", external_id="ann"))
    assert again[0] == 201 and again[1]["embed_id"] != first[1]["embed_id"]
    assert held(api_app, lambda_context, organization) == [again[1]["embed_id"]]
