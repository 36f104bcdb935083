"""The most faces an organization may hold (MaxFacesPerOrganization): refused whole, never
passed by concurrent enrollments, and never refusing the retry of an enrollment that committed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from facematch.aws import client
from facematch.idempotency import IN_PROGRESS_SECONDS
from facematch.inputs import ImageInput
from facematch.shards import ShardStore
from facematch_local.queues import sqs_event
from facematch_testing.api import enroll, enrolled_ids, request
from facematch_testing.aws import stored_ids
from facematch_testing.faults import BEFORE, Crash, Fault, crash, injecting
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def limit_of_three(api_app, monkeypatch):
    monkeypatch.setattr(api_app.service.writes, "max_faces", 3)


def photos(*names: str) -> list[tuple[str, bytes]]:
    return [(f"{name}.jpg", synthetic_photo(name)) for name in names]


def held(api_app, lambda_context, organization: str) -> list[int]:
    _, body = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    return sorted(e["embed_id"] for e in body["embeddings"])


@pytest.mark.usefixtures("limit_of_three")
def test_an_enrollment_past_the_limit_is_a_409_organization_full_and_stores_none_of_its_faces(
    api_app, lambda_context, organization
):
    kept = enrolled_ids(api_app, lambda_context, organization, photos("ann", "bob"))
    status, body = enroll(api_app, lambda_context, organization, photos("cy", "dan"))
    assert (status, body["error"]["code"]) == (409, "ORGANIZATION_FULL"), body
    assert "holds 2 faces; 2 more would pass its limit of 3" in body["error"]["message"]
    assert held(api_app, lambda_context, organization) == sorted(kept)
    assert stored_ids(organization) == sorted(kept)  # no shard of the refused enrollment is left

    assert len(enrolled_ids(api_app, lambda_context, organization, photos("cy"))) == 1  # up to the limit
    status, body = enroll(api_app, lambda_context, organization, photos("dan"))
    assert (status, body["error"]["code"]) == (409, "ORGANIZATION_FULL")


@pytest.mark.usefixtures("limit_of_three")
def test_a_full_organization_refuses_before_any_photo_is_embedded(api_app, lambda_context, organization, monkeypatch):
    enrolled_ids(api_app, lambda_context, organization, photos("ann", "bob", "cy"))
    embedded: list[str] = []
    embed = type(api_app.service.enrollment).embed
    monkeypatch.setattr(
        type(api_app.service.enrollment), "embed", lambda self, image, *a: embedded.append(image.name) or embed(self, image, *a)
    )
    status, body = enroll(api_app, lambda_context, organization, photos("dan"))
    assert (status, body["error"]["code"], embedded) == (409, "ORGANIZATION_FULL", [])


@pytest.mark.usefixtures("limit_of_three")
def test_deleting_faces_makes_room_again(api_app, lambda_context, organization):
    ann, *_ = enrolled_ids(api_app, lambda_context, organization, photos("ann", "bob", "cy"))
    request(api_app, lambda_context, "DELETE", f"/api/embeddings/{ann}", {"organization": organization}, {"embed_id": str(ann)})
    assert len(enrolled_ids(api_app, lambda_context, organization, photos("dan"))) == 1


@pytest.mark.usefixtures("limit_of_three")
def test_the_limit_is_per_organization(api_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, photos("ann", "bob", "cy"))
    assert len(enrolled_ids(api_app, lambda_context, f"{organization}-other", photos("ann", "bob", "cy"))) == 3


def test_two_enrollments_that_each_fit_alone_cannot_pass_the_limit_together(
    api_app, lambda_context, organization, monkeypatch
):
    """Both pass every check made before their commit (the barrier), then commit one after the
    other: the manifest's compare-and-swap checks the count it replaces, so the second is refused."""
    monkeypatch.setattr(api_app.service.writes, "max_faces", 1)
    written = threading.Barrier(2, timeout=30)
    one_commit = threading.Lock()  # the swaps one after the other: moto's conditions are not atomic under threads
    write_shard, swap = ShardStore.write_shard, type(api_app.service.writes)._swap

    def write_then_wait(self, *args, **kwargs):
        shard = write_shard(self, *args, **kwargs)
        written.wait()
        return shard

    def swap_alone(self, *args, **kwargs):
        with one_commit:
            return swap(self, *args, **kwargs)

    monkeypatch.setattr(ShardStore, "write_shard", write_then_wait)
    monkeypatch.setattr(type(api_app.service.writes), "_swap", swap_alone)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda name: enroll(api_app, lambda_context, organization, photos(name)), ["ann", "bob"]))
    monkeypatch.undo()
    assert sorted(status for status, _ in answers) == [201, 409], answers
    (refused,) = [body for status, body in answers if status == 409]
    assert refused["error"]["code"] == "ORGANIZATION_FULL"
    (kept,) = [body["embed_id"] for status, body in answers if status == 201]
    assert held(api_app, lambda_context, organization) == [kept]
    assert stored_ids(organization) == [kept]


def test_an_upload_to_a_full_organization_is_recorded_as_failed_with_organization_full_and_not_retried(
    api_app, lambda_context, organization, aws, monkeypatch
):
    """Its owner reads the outcome; a redelivery would only end in the operator's dead-letter queue."""
    monkeypatch.setattr(api_app.service.writes, "max_faces", 1)
    enrolled_ids(api_app, lambda_context, organization, photos("ann"))
    client("s3").put_object(
        Bucket=api_app.service.settings.bucket, Key=f"uploads/{organization}/bob.jpg", Body=synthetic_photo("bob")
    )
    queue = aws["UploadQueue"]
    messages = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    response = api_app.lambda_handler(sqs_event(messages, arn), lambda_context)
    assert response["batchItemFailures"] == []
    _, body = request(api_app, lambda_context, "GET", "/api/uploads", {"organization": organization})
    assert [(u["status"], u["error"]["code"]) for u in body["uploads"]] == [("failed", "ORGANIZATION_FULL")]


def test_the_retry_of_a_keyed_enrollment_that_filled_the_organization_is_not_refused(api_app, monkeypatch):
    """A limit of one face, and a keyed enrollment of one: wherever the first attempt dies, the
    retry (the key taken over) answers 201 with the one face, even once the commit filled it."""
    service = api_app.service
    monkeypatch.setattr(service.writes, "max_faces", 1)

    def keyed(organization: str):
        return service.enrollment.enroll_once(
            organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], key="k", external_id="ann"
        )

    with injecting() as counting:
        keyed("org-capacity-count")
    clock = service.writes.once.clock
    for at in range(len(counting.calls)):
        organization = f"org-capacity-{at}"
        with injecting() as injector:
            injector.fault = Fault(at, BEFORE, crash(injector))
            try:
                answer = keyed(organization)
            except Crash:
                injector.crashed, injector.fault = False, None
                monkeypatch.setattr(service.writes.once, "clock", lambda: clock() + IN_PROGRESS_SECONDS + 1)
                answer = keyed(organization)
                monkeypatch.setattr(service.writes.once, "clock", clock)
        assert answer.status == 201, (at, counting.calls[at], answer.body)
        listed = [e.embed_id for e in service.holdings.list_embeddings(organization).embeddings]
        assert listed == [answer.body["embed_id"]], (at, counting.calls[at])
