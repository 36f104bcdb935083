"""A duplicate report killed at every S3 and DynamoDB call its worker makes, then left to SQS:
the message comes back, the work goes on from what the stores hold, and the report ends with
exactly the groups of an uninterrupted run, leaving nothing of its own behind but its plan and
groups. The fault harness is single-threaded: messages are delivered one at a time."""

from __future__ import annotations

import numpy as np
import pytest

from facematch.aws import client
from facematch_local.context import LambdaContext
from facematch_local.queues import sqs_event
from facematch_testing.aws import all_items, versions
from facematch_testing.face_vectors import dlib_like, planted_copies
from facematch_testing.faults import AFTER, BEFORE, Crash, Fault, crash, injecting
from facematch_testing.reports import commit_faces, drain, every_group, read_report, receive, start_report

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.protocol]
BLOCK = 30
FACES = 55  # two blocks: three tasks


@pytest.fixture
def small_blocks(report_app, monkeypatch):
    monkeypatch.setattr(report_app.worker.work.planner, "block_faces", BLOCK)


def faces(service, organization: str) -> None:
    rng = np.random.default_rng(31)
    base = dlib_like(FACES - 3, rng)
    # A group of three whose members fall in both blocks (ids 1, 52, 53), and one of two.
    copies = planted_copies(base[[0, 0, 40]], rng, 0.004)
    commit_faces(service, organization, np.concatenate([base, copies]))


def calls_of_a_whole_report(api_app, report_app, aws, organization) -> tuple[list, list[list[int]]]:
    """The worker's S3 and DynamoDB calls over one uninterrupted report, and its groups."""
    faces(api_app.service, organization)
    _, accepted = start_report(api_app, organization)
    with injecting() as injector:
        drain(report_app, aws["ReportQueue"])
    return injector.calls, every_group(api_app, organization, accepted["report_id"])


def forget_process(report_app) -> None:
    """A new execution environment after the crash: nothing cached."""
    work = report_app.worker.work
    work._plans.clear()
    work.reader._cache.clear()


def test_a_report_killed_at_any_call_ends_with_the_groups_of_an_uninterrupted_one(
    api_app, report_app, aws, small_blocks, organization
):
    calls, expected = calls_of_a_whole_report(api_app, report_app, aws, organization)
    assert len(expected) == 2 and len({c.operation for c in calls}) >= 8
    queue = aws["ReportQueue"]
    arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Before and after every write (a crash before a read leaves what a crash after the call
    # before it leaves).
    points = [(index, when) for index, call in enumerate(calls) if call.writes for when in (BEFORE, AFTER)]
    for number, (index, when) in enumerate(points):
        organization_n = f"{organization}-{number}"
        faces(api_app.service, organization_n)
        _, accepted = start_report(api_app, organization_n)
        forget_process(report_app)
        crashed = False
        with injecting() as injector:
            injector.fault = Fault(index, when, crash(injector))
            while not crashed and (messages := receive(queue, 1)):
                try:
                    report_app.lambda_handler(sqs_event(messages, arn), LambdaContext("ReportFunction", 1769, 900))
                except Crash:
                    crashed = True  # the message stays; SQS delivers it again after its timeout
                    client("sqs").change_message_visibility(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)
                else:
                    client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
        forget_process(report_app)
        drain(report_app, queue)

        _, report = read_report(api_app, organization_n, accepted["report_id"])
        assert report["status"] == "done", (index, when, calls[index], report)
        # Every organization counts its ids from 1: the same faces, the same ids, the same groups.
        assert every_group(api_app, organization_n, accepted["report_id"]) == expected, (index, when, calls[index])
        kept = {v["Key"].rsplit("/", 1)[-1] for v in versions(f"orgs/{organization_n}/g1/reports/")}
        assert kept == {"plan.json", "groups.json"}, (index, when, calls[index], kept)
        sort_keys = [item["sk"]["S"] for item in all_items() if item["pk"]["S"] == f"ORG#{organization_n}"]
        assert not [sk for sk in sort_keys if sk.startswith(("LEASE#", "REPORTING")) or "#TASK#" in sk], (index, when)
