"""The failures a hostile review found in the write path, one test each (docs/write-protocol.md).

Each stops an operation at the store call where the failure happened (botocore's hooks, one
thread) and checks what a caller then sees. The timeout case is in tests/unit/test_timeouts.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from facematch.aws import client
from facematch.errors import PurgedDuringWrite
from facematch_local.queues import sqs_event
from facematch_testing.aws import stored_ids
from facematch_testing.faults import AFTER, BEFORE, Fault, injecting, lose_reply, run_there
from facematch_testing.protocol import THRESHOLD, World, face
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def enroll_with(world: World, person: str, fault_at: Fault, intruder=None) -> tuple[list[int] | None, list]:  # noqa: ANN001
    """Enroll a photo of ``person`` with ``intruder`` (or ``fault_at``'s own action) at a call."""
    outcomes: list = []
    with injecting() as injector:
        if intruder is not None:
            fault_at.action = run_there(injector, intruder, outcomes)
        injector.fault = fault_at
        try:
            return world.enroll(person, 0), outcomes
        except PurgedDuringWrite:
            return None, outcomes


def best_match(world: World, person: str):  # noqa: ANN201
    matches = world._matches(world.service, face(person, 0)[0])
    return matches[0] if matches else None


def test_a_purge_during_an_enrollment_never_lets_a_later_face_take_its_id(organization):
    """Was: the purge swept S3 before the shard was written and DynamoDB before the commit; the
    vector survived, the id counter restarted, and alice's photo was answered as bob."""
    world = World(organization)
    # Before alice's shard is written: the purge sweeps everything written so far.
    ids, outcomes = enroll_with(world, "ann", Fault(0, BEFORE, None, operation="s3.PutObject"), world.purge)
    assert [outcome for outcome, _ in outcomes] == ["ok"]
    assert ids is None  # 409 ORGANIZATION_PURGED: nothing of it was kept
    (bob,) = world.enroll("bob", 0)
    assert bob not in world.faces or world.faces[bob] == "bob/0"
    match = best_match(world, "ann")
    assert match.external_id == "bob" and match.distance > THRESHOLD  # not answered as bob
    world.check()


def test_a_whole_purge_between_the_shard_write_and_the_commit_leaves_the_organization_usable(organization):
    """Was: the manifest then named a deleted shard; every compare and delete answered 503 for
    good, and a later enrollment reaching the surviving id answered 500."""
    world = World(organization)
    world.enroll("bob", 0)
    # Before the commit's manifest swap (the second PutObject; the first writes the shard).
    ids, outcomes = enroll_with(world, "ann", Fault(1, BEFORE, None, operation="s3.PutObject"), world.purge)
    assert ids is None and [outcome for outcome, _ in outcomes] == ["ok"]
    assert best_match(world, "ann") is None  # 404: nothing enrolled, and no 503
    for person in ("ann", "bob", "cat"):
        world.enroll(person, 1)
    assert best_match(world, "ann").external_id == "ann"
    world.delete_person("ann")
    world.check()
    world.check_usable()


def test_erasing_a_person_between_an_enrollments_metadata_and_its_commit_leaves_nothing_undeletable(organization):
    """Was: the deletion reported the new id deleted, yet compare still returned it, and DELETE of
    that id or label answered 404: a live vector no API could delete."""
    world = World(organization)
    (earlier,) = world.enroll("ann", 1)
    ids, outcomes = enroll_with(
        world, "ann", Fault(0, AFTER, None, operation="dynamodb.TransactWriteItems"), lambda: world.delete_person("ann")
    )
    assert outcomes == [("ok", [earlier])]  # the enrollment in flight was not live yet
    match = best_match(world, "ann")
    assert [match.embed_id] == ids  # it committed after the deletion, so it is held...
    assert world.delete_id(match.embed_id) == ids  # ...and deletable
    assert best_match(world, "ann") is None
    world.check()


def test_a_commit_whose_reply_was_lost_holds_its_vectors_once_and_they_go_with_their_deletion(organization):
    """Was: the retry after a lost reply (seen as 412) committed the shard twice, and the
    duplicate vectors survived later deletions."""
    world = World(organization)
    world.enroll("bob", 0)
    ids, _ = enroll_with(world, "ann", Fault(1, AFTER, lose_reply, operation="s3.PutObject"))
    assert ids is not None  # the enrollment succeeded: its commit had landed
    world.check()  # no vector held twice
    world.delete_person("ann")
    assert best_match(world, "ann").external_id == "bob"
    assert sorted(stored_ids(organization)) == [world.oldest_id()]


def test_an_upload_is_enrolled_once_when_something_after_its_commit_failed(
    api_app, lambda_context, organization, aws, monkeypatch
):
    """Was: recording the upload's outcome failed after the commit, the message was delivered
    again, and the photo was enrolled a second time."""
    bucket = os.environ["FACEMATCH_BUCKET"]
    client("s3").put_object(Bucket=bucket, Key=f"uploads/{organization}/ann.jpg", Body=synthetic_photo("ann"))
    messages = client("sqs").receive_message(QueueUrl=aws["UploadQueue"], MaxNumberOfMessages=10)["Messages"]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:UploadQueue")
    service = api_app.service
    record_upload = service.uploads.store.record

    def fails_after_the_commit(record) -> None:  # noqa: ANN001
        raise ConnectionError("DynamoDB went away")

    monkeypatch.setattr(service.uploads.store, "record", fails_after_the_commit)
    failed = api_app.lambda_handler(event, lambda_context)["batchItemFailures"]
    assert len(failed) == len([m for m in messages if "ann.jpg" in m["Body"]]) == 1
    monkeypatch.setattr(service.uploads.store, "record", record_upload)

    assert api_app.lambda_handler(event, lambda_context)["batchItemFailures"] == []  # redelivered
    held = service.holdings.list_embeddings(organization).embeddings
    assert [e.source for e in held] == [f"uploads/{organization}/ann.jpg"]
    assert stored_ids(organization) == [held[0].embed_id]
    assert np.unique(stored_ids(organization)).size == 1


def test_a_deletion_that_crashed_anywhere_is_finished_by_its_retry_leaving_nothing_of_the_person():
    from facematch.inputs import ImageInput
    from facematch_testing.aws import all_items
    from facematch_testing.faults import Crash, crash

    def person_with_a_stored_answer(world: World) -> list[int]:
        answer = world.service.enrollment.enroll_once(
            world.organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], key="k", external_id="ann"
        )
        return [answer.body["embed_id"], *world.enroll("ann", 1)]

    probe = World(f"org-probe-{os.getpid()}")
    person_with_a_stored_answer(probe)
    with injecting() as counting:
        probe.delete_person("ann")
    for at in range(len(counting.calls)):
        world = World(f"org-crash-{at}-{os.getpid()}")
        ann = person_with_a_stored_answer(world)
        world.enroll("bob", 0)
        with injecting() as injector:
            injector.fault = Fault(at, BEFORE, crash(injector))
            with pytest.raises(Crash):
                world.delete_person("ann")
        assert sorted(world.delete_person("ann")) == sorted(ann), at  # the retry answers for all of them
        left = [item for item in all_items() if world.organization in str(item) and "ann" in str(item)]
        assert left == [], (at, counting.calls[at], left)
        assert not set(ann) & set(stored_ids(world.organization)), at
        world.check()
