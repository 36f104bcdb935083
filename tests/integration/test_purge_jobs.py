"""A purge too large for its request: answered 202, finished by the purge job in bounded steps,
followed through its status URL. Job messages are handed to the API function as Lambda's
SQS event source would (facematch_local.queues), from the job queue in moto."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timedelta

import pytest

from facematch.aws import client
from facematch_local.context import LambdaContext
from facematch_local.queues import QueuePoller, sqs_event
from facematch_testing.api import compare, enrolled_ids, invoke, request
from facematch_testing.aws import all_items, versions
from facematch_testing.bulk import enroll_in_bulk
from facematch_testing.events import api_event
from facematch_testing.faults import AFTER, Crash, Fault, crash, injecting
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]
FACES = 1100  # 1,100 photos and a shard: two listing pages; 2,200 items: three query pages
FEWER = 600  # 1,200 items: two query pages
# Writing and purging a large organization takes seconds under moto (each query page evaluates
# every item left): make test-protocol runs these.
LARGE = pytest.mark.protocol


@pytest.fixture
def one_page_per_step(api_app, monkeypatch):
    """Every step stops after its first page, so the purge takes many steps, whatever the machine."""
    service = api_app.service
    settings = service.settings.model_copy(update={"purge_request_seconds": 0, "job_step_seconds": 0})
    for holder in (service, service.holdings, service.long_jobs):
        monkeypatch.setattr(holder, "settings", settings)


@pytest.fixture
def job_queue(aws, api_app):
    """Lambda's SQS event source for the job queue: one message per invocation of the function."""
    return QueuePoller(
        aws["JobQueue"], 1, lambda event: api_app.lambda_handler(event, LambdaContext()), threading.Event()
    )


def purge(api_app, organization: str) -> tuple[int, dict, dict]:
    event = api_event("DELETE", f"/api/organizations/{organization}", None, {"organization": organization})
    response = api_app.lambda_handler(event, LambdaContext())
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], json.loads(response["body"]), headers


def job_status(api_app, job_id: str) -> tuple[int, dict]:
    """GET /api/jobs/{job_id} as API Gateway passes it on: no key, so no authorizer's principal."""
    return request(api_app, LambdaContext(), "GET", f"/api/jobs/{job_id}", None, {"job_id": job_id}, caller=None)


def items_of(items: list[dict], organization: str) -> list[str]:
    """The sort keys of the organization's items."""
    return [item["sk"]["S"] for item in items if item["pk"]["S"] == f"ORG#{organization}"]


@LARGE
def test_a_large_purge_answers_202_and_its_job_finishes_it_in_steps_followed_through_the_status_url(
    api_app, matching_app, lambda_context, organization, one_page_per_step, job_queue
):
    enroll_in_bulk(api_app.service, organization, FACES)
    client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{organization}/drop.jpg", Body=b"x")
    key = invoke(api_app, api_event("POST", f"/api/organizations/{organization}/keys", None, {"organization": organization}), lambda_context)
    assert key[0] == 201
    bystander = enrolled_ids(api_app, lambda_context, "bystander", [("a.jpg", synthetic_photo("angelina"))])

    status, body, headers = purge(api_app, organization)
    assert status == 202, body
    job_id = body["job_id"]
    assert body["status"] == "purging" and body["deleted_objects"] > 0
    url = f"https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/api/jobs/{job_id}"
    assert body["status_url"] == headers["Location"] == url

    steps = 0
    while (answer := job_status(api_app, job_id))[1]["state"] == "running":
        assert answer[0] == 200
        listed = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
        assert (listed[0], listed[1]["error"]["code"]) == (409, "ORGANIZATION_PURGING")
        compared = compare(matching_app, lambda_context, organization, ("c.jpg", synthetic_photo("angelina", 1)))
        assert (compared[0], compared[1]["error"]["code"]) == (409, "ORGANIZATION_PURGING")
        assert job_queue.poll_once() == 1, "a running job always has its next message queued"
        steps += 1
    status, job = answer
    assert status == 200
    assert job_queue.poll_once() == 0  # a done job sends nothing more
    assert steps >= 5  # two listing pages, the inbox, three query pages at one page per step
    assert set(job) == {"job_id", "kind", "organization", "state", "submitted_at", "finished_at", "progress", "backups", "status_url"}
    assert (job["job_id"], job["kind"], job["organization"], job["state"]) == (job_id, "purge", organization, "done")
    assert job["progress"]["steps"] == steps + 1  # the request's own step, then the job's
    assert job["progress"]["deleted_objects"] == FACES + 2  # the photos, the shard, the upload
    assert job["progress"]["deleted_items"] == 2 * FACES + 1  # every face twice (labelled), the key's record
    finished = datetime.fromisoformat(job["finished_at"])
    assert finished >= datetime.fromisoformat(job["submitted_at"])
    assert {b["store"]: datetime.fromisoformat(b["until"]) - finished for b in job["backups"]} == {
        "s3-noncurrent-versions": timedelta(days=30), "dynamodb-point-in-time-recovery": timedelta(days=35)
    }

    # What stays: every version of the manifest, the last saying "purged", and the id counter.
    assert {v["Key"] for v in versions(f"orgs/{organization}/")} == {f"orgs/{organization}/manifest.json"}
    assert versions(f"uploads/{organization}/") == []
    items = all_items()
    assert items_of(items, organization) == ["COUNTER"]
    assert [i for i in items if organization in json.dumps(i) and i["pk"]["S"].startswith("KEY#")] == []
    (record,) = [i for i in items if i["pk"]["S"].startswith("JOB#")]
    assert job_id not in json.dumps(record)  # only its hash: the id is the capability
    listed = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": "bystander"})
    assert [e["embed_id"] for e in listed[1]["embeddings"]] == bystander

    (embed_id,) = enrolled_ids(api_app, lambda_context, organization, [("b.jpg", synthetic_photo("angelina"))])
    assert embed_id == FACES + 1  # ids are never reused
    status, result = compare(matching_app, lambda_context, organization, ("c.jpg", synthetic_photo("angelina", 1)))
    assert (status, result["embed_id"]) == (200, embed_id)


def test_a_small_purge_answers_200_with_when_it_was_done_and_what_backups_hold(api_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [("a.jpg", synthetic_photo("angelina"))])
    status, body, headers = purge(api_app, organization)
    assert status == 200 and "Location" not in headers
    assert (body["status"], body["deleted_items"], body["deleted_objects"]) == ("purged", 1, 1)
    assert "job_id" not in body and "status_url" not in body
    finished = datetime.fromisoformat(body["finished_at"])
    assert [datetime.fromisoformat(b["until"]) - finished for b in body["backups"]] == [timedelta(days=30), timedelta(days=35)]


def received(queue_url: str) -> tuple[dict, dict]:
    """One message taken off the queue (invisible until its visibility timeout), and its event."""
    sqs = client("sqs")
    (message,) = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"]).get("Messages", [])
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return message, sqs_event([message], arn)


def run_to_the_end(api_app, job_queue, job_id: str) -> dict:
    while (job := job_status(api_app, job_id)[1])["state"] == "running":
        assert job_queue.poll_once() == 1, "a running job always has its next message queued"
    return job


@LARGE
def test_a_duplicated_or_redelivered_job_message_is_harmless(api_app, organization, one_page_per_step, aws, job_queue):
    enroll_in_bulk(api_app.service, organization, FEWER)
    status, body, _ = purge(api_app, organization)
    assert status == 202
    _, event = received(aws["JobQueue"])
    for _ in range(3):  # one message delivered three times: three steps of one job, three chains
        assert api_app.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    done = run_to_the_end(api_app, job_queue, body["job_id"])
    while job_queue.poll_once():  # the other chains find the job done, and end
        pass
    assert done["progress"]["deleted_objects"] == FEWER + 1 and done["progress"]["deleted_items"] == 2 * FEWER
    assert api_app.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert job_status(api_app, body["job_id"])[1] == done  # a late redelivery changes nothing
    assert {v["Key"] for v in versions(f"orgs/{organization}/")} == {f"orgs/{organization}/manifest.json"}
    assert items_of(all_items(), organization) == ["COUNTER"]


@LARGE
def test_a_job_step_killed_mid_way_is_finished_by_the_redelivery(api_app, organization, one_page_per_step, aws, job_queue):
    enroll_in_bulk(api_app.service, organization, FEWER, photos=False)
    status, body, _ = purge(api_app, organization)  # the request's one page: the shard
    assert status == 202
    message, event = received(aws["JobQueue"])
    with injecting() as injector:
        # The process dies right after the step's first 25 items went: the rest of its page, its
        # progress and its continuation never happen, and the message is not deleted.
        injector.fault = Fault(0, AFTER, crash(injector), operation="dynamodb.BatchWriteItem")
        with pytest.raises(Crash):
            api_app.lambda_handler(event, LambdaContext())
    assert len(items_of(all_items(), organization)) == 2 * FEWER + 1 - 25
    # What SQS does once the visibility timeout has passed: the message comes back.
    client("sqs").change_message_visibility(
        QueueUrl=aws["JobQueue"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert run_to_the_end(api_app, job_queue, body["job_id"])["state"] == "done"
    assert items_of(all_items(), organization) == ["COUNTER"]
    assert {v["Key"] for v in versions(f"orgs/{organization}/")} == {f"orgs/{organization}/manifest.json"}


@pytest.mark.parametrize(
    ("job_id", "status", "code"),
    [
        ("A" * 32, 404, "JOB_NOT_FOUND"),  # well formed, never issued
        ("short", 400, "VALIDATION_ERROR"),
        ("A" * 31 + "!", 400, "VALIDATION_ERROR"),
        ("A" * 33, 400, "VALIDATION_ERROR"),
    ],
)
def test_the_status_route_refuses_an_unknown_or_malformed_job_id_with_a_json_4xx(api_app, job_id, status, code):
    answer, body = job_status(api_app, job_id)
    assert (answer, body["error"]["code"]) == (status, code)


def test_a_job_is_read_with_its_id_alone_and_another_id_reads_nothing(api_app, organization, one_page_per_step):
    enroll_in_bulk(api_app.service, organization, 2, photos=False)  # one page is all a step does
    _, body, _ = purge(api_app, organization)
    job_id = body["job_id"]
    assert job_status(api_app, job_id)[0] == 200
    other = job_id[:-1] + ("A" if job_id[-1] != "A" else "B")
    assert job_status(api_app, other)[1]["error"]["code"] == "JOB_NOT_FOUND"


def test_the_hourly_schedule_starts_a_sweep_job_that_runs_in_steps_to_its_end(
    api_app, lambda_context, organization, one_page_per_step, job_queue
):
    enrolled_ids(api_app, lambda_context, organization, [("ann.jpg", synthetic_photo("ann"))], external_id="ann")
    sqs = client("sqs")
    before = int(sqs.get_queue_attributes(QueueUrl=job_queue.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
                 ["Attributes"]["ApproximateNumberOfMessages"])
    assert api_app.lambda_handler({"facematch": "sweep"}, LambdaContext()) == {}  # the schedule's input
    message, _ = received(job_queue.queue_url)
    body = json.loads(message["Body"])
    sqs.change_message_visibility(QueueUrl=job_queue.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert (body["job"], body["organization"], before) == ("sweep", "*", 0)
    job = run_to_the_end(api_app, job_queue, body["job_id"])
    assert job["progress"]["steps"] >= 2 and job["progress"]["organizations"] >= 1  # one page a step, resumed
    assert [e.external_id for e in api_app.service.holdings.list_embeddings(organization).embeddings] == ["ann"]
