"""The sweeper: after a deletion, a crash or an expiry, nothing of a face is left in any store.

The stub face networks stand in for the model; moto for S3 and DynamoDB. Crashes are injected
at store calls (facematch_testing.faults); the clock is the service's, moved past the
retirement time where the test says so.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import time

import numpy as np
import pytest

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.inputs import ImageInput, S3Upload
from facematch.manifest import RETIREMENT_SECONDS, RETIREMENT_WINDOW_SECONDS
from facematch.shards import ShardStore
from facematch.sweeper import SweepCursor, Sweeper
from facematch.uploads import UPLOAD_RECORD_SECONDS
from facematch.wiring import FaceMatch
from facematch_testing.aws import all_items, versions
from facematch_testing.events import OPERATOR
from facematch_testing.faults import AFTER, BEFORE, Crash, Fault, crash, injecting, run_there
from facematch_testing.protocol import Clock
from facematch_testing.stub_faces import stub_embedder
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]


def photo_service(clock) -> FaceMatch:  # noqa: ANN001
    """A service that keeps photos, so that every kind of object and item is written."""
    settings = Settings(bucket=BUCKET, table=os.environ["FACEMATCH_TABLE"], store_images=True)
    return FaceMatch(settings, stub_embedder(settings), Catalog(settings.table), ShardStore(BUCKET), clock)


def held_vectors(organization: str) -> np.ndarray:
    """Every vector in every stored version of every shard of the organization."""
    rows = []
    for version in versions(f"orgs/{organization}/"):
        if version["Key"].endswith(".npy") and "Size" in version:
            body = io.BytesIO(
                client("s3").get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            )
            np.load(body)  # the ids
            rows.append(np.load(body))
    return np.concatenate(rows) if rows else np.empty((0, 128), np.float32)


def traces_of(organization: str, needle: str) -> list[str]:
    """Items and object keys of the organization that mention ``needle``."""
    items = [str(item) for item in all_items() if organization in str(item) and needle in str(item)]
    keys = [v["Key"] for v in versions() if needle in v["Key"]]
    return items + keys


def upload_photo(organization: str, name: str, person: str, service: FaceMatch) -> None:
    key = f"uploads/{organization}/{name}"
    response = client("s3").put_object(Bucket=BUCKET, Key=key, Body=synthetic_photo(person), Metadata={"external-id": person})
    service.uploads.enroll(S3Upload(bucket=BUCKET, key=key, version_id=response.get("VersionId")))


def test_after_a_person_is_deleted_and_the_sweeper_ran_no_item_or_object_holds_their_label_file_name_or_vector():
    organization = f"org-sweep-{os.getpid()}"
    clock = Clock()
    service = photo_service(clock)
    ann = service.enrollment.embed(ImageInput("q", synthetic_photo("ann"))).vector
    service.enrollment.enroll_once(organization, [ImageInput("ann-passport.jpg", synthetic_photo("ann", 1))], key="k1", external_id="ann")
    upload_photo(organization, "ann-badge.jpg", "ann", service)
    service.enrollment.enroll(organization, [ImageInput("ann-selfie.jpg", synthetic_photo("ann", 2))], external_id="ann")
    service.enrollment.enroll(organization, [ImageInput("bob.jpg", synthetic_photo("bob"))], external_id="bob")
    # An enrollment that died before its commit: its shard, photo and metadata reach no reader.
    with injecting() as injector, pytest.raises(Crash):
        injector.fault = Fault(2, BEFORE, crash(injector), operation="s3.PutObject")
        service.enrollment.enroll(organization, [ImageInput("ann-crashed.jpg", synthetic_photo("ann", 3))], external_id="ann")
    # A deletion that died right after its commit: ann is unreachable, her items not yet deleted.
    with injecting() as injector, pytest.raises(Crash):
        injector.fault = Fault(0, BEFORE, crash(injector), operation="dynamodb.BatchWriteItem")
        service.holdings.delete_person(organization, "ann", OPERATOR)
    assert traces_of(organization, "ann"), "the crashes left something for the sweeper"

    clock.now += RETIREMENT_SECONDS + 1
    counts = Sweeper(service.writes).sweep_organization(organization)

    assert traces_of(organization, "ann") == []
    assert not (held_vectors(organization) @ ann > 0.99).any()  # her vector is in no version of any shard
    assert counts.faces_forgotten == 3 and counts.by_kind["orphan_shards"] == 1
    assert counts.by_kind["uncommitted_metadata"] == 2  # the crashed enrollment's item and its person copy
    assert [e.external_id for e in service.holdings.list_embeddings(organization).embeddings] == ["bob"]
    assert service.matching.compare(organization, ImageInput("q", synthetic_photo("bob", 1))).external_id == "bob"
    assert Sweeper(service.writes).sweep_organization(organization).items == 0  # a second run finds nothing


@pytest.mark.parametrize("when", [BEFORE, AFTER])
def test_a_sweep_at_any_step_of_an_enrollment_takes_nothing_it_commits(when):
    """With the real clock: what a writer wrote a moment ago is too young to be swept."""
    organization = f"org-sweep-race-{when}-{os.getpid()}"
    service = photo_service(time.time)
    service.enrollment.enroll(organization, [ImageInput("bob.jpg", synthetic_photo("bob"))], external_id="bob")
    service.enrollment.enroll(organization, [ImageInput("cat.jpg", synthetic_photo("cat"))], external_id="cat")
    with injecting() as counting:
        probe = service.enrollment.enroll(organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], external_id="ann")
    service.holdings.delete_embedding(organization, probe.embed_id, OPERATOR)
    writes = sum(call.writes for call in counting.calls)
    # Until an enrollment ends before the sweep's turn: how many reads the duplicate check makes
    # depends on what the warm vectors already hold.
    for at in itertools.count():
        outcomes: list = []
        with injecting() as injector:
            injector.fault = Fault(at, when, run_there(injector, lambda: Sweeper(service.writes).sweep_organization(organization), outcomes))
            result = service.enrollment.enroll(organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], external_id="ann")
        if not outcomes:
            assert at == len(injector.calls) and sum(call.writes for call in injector.calls) == writes
            service.holdings.delete_embedding(organization, result.embed_id, OPERATOR)
            break
        assert [kind for kind, _ in outcomes] == ["ok"], (at, outcomes)
        embed_id = result.embed_id
        assert service.holdings.get_embedding(organization, embed_id).image_stored
        assert service.matching.compare(organization, ImageInput("q", synthetic_photo("ann", 1))).embed_id == embed_id
        assert client("s3").head_object(Bucket=BUCKET, Key=f"orgs/{organization}/g1/images/{embed_id}")
        service.holdings.delete_embedding(organization, embed_id, OPERATOR)
    assert {e.external_id for e in service.holdings.list_embeddings(organization).embeddings} == {"bob", "cat"}


def test_deleting_a_person_removes_their_upload_records_claims_and_stored_answers_at_once():
    organization = f"org-sweep-at-once-{os.getpid()}"
    service = photo_service(Clock())
    upload_photo(organization, "ann-badge.jpg", "ann", service)
    service.enrollment.enroll_once(organization, [ImageInput("ann-passport.jpg", synthetic_photo("ann", 1))], key="k1", external_id="ann")
    service.enrollment.enroll(organization, [ImageInput("bob.jpg", synthetic_photo("bob"))], external_id="bob")
    assert len(traces_of(organization, "ann")) >= 6  # records, person copies, upload record, answers

    service.holdings.delete_person(organization, "ann", OPERATOR)

    assert traces_of(organization, "ann") == []  # no sweeper needed
    assert [u.key for u in service.uploads.recent(organization, 10).uploads] == []


def test_expired_claims_answers_and_upload_records_are_deleted_and_no_longer_listed():
    organization = f"org-sweep-expiry-{os.getpid()}"
    clock = Clock()
    service = photo_service(clock)
    upload_photo(organization, "dan.jpg", "dan", service)
    client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{organization}/wall.jpg", Body=b"not a photo")
    service.uploads.enroll(S3Upload(bucket=BUCKET, key=f"uploads/{organization}/wall.jpg"))
    assert len(service.uploads.recent(organization, 10).uploads) == 2

    clock.now += UPLOAD_RECORD_SECONDS + 1
    assert service.uploads.recent(organization, 10).uploads == []  # expired: not listed at once
    counts = Sweeper(service.writes).sweep_organization(organization)

    left = {item["sk"]["S"].split("#")[0] for item in all_items() if item["pk"]["S"] == f"ORG#{organization}"}
    assert left == {"COUNTER", "EMB", "PER"}  # the face stays; what recorded how it came expired
    assert counts.by_kind["expired_items"] == 5  # 2 upload records, 2 answers, 1 claim
    assert service.matching.compare(organization, ImageInput("q", synthetic_photo("dan", 1))).external_id == "dan"


def test_retired_shards_outlive_a_sweep_within_their_retirement_and_not_one_after_it():
    organization = f"org-sweep-retired-{os.getpid()}"
    clock = Clock()
    service = photo_service(clock)
    for person in ("ann", "bob", "cat", "dan") * 3:
        service.enrollment.enroll(organization, [ImageInput(f"{person}.jpg", synthetic_photo(person))], external_id=person)
    batches = service.shards.read_manifest(organization).of("Dlib").retired
    retired = [ref for batch in batches for ref in service.shards.read_batch(batch)]
    assert retired, "the enrollments compacted"

    Sweeper(service.writes).sweep_organization(organization)
    for ref in retired:  # still readable by a reader on an older manifest
        service.shards.read_shard_ids(ref)
    clock.now += RETIREMENT_WINDOW_SECONDS + RETIREMENT_SECONDS + 1
    Sweeper(service.writes).sweep_organization(organization)
    assert service.shards.read_manifest(organization).of("Dlib").retired == ()
    left = {v["Key"] for v in versions(f"orgs/{organization}/")}
    assert not left & {ref.key for ref in retired} and not left & {batch.key for batch in batches}
    assert len(service.holdings.list_embeddings(organization).embeddings) == 12


def test_a_sweep_in_steps_of_one_page_resumed_from_its_cursor_sweeps_every_organization():
    clock = Clock()
    service = photo_service(clock)
    organizations = [f"org-sweep-steps-{i}-{os.getpid()}" for i in range(3)]
    for organization in organizations:
        service.enrollment.enroll(organization, [ImageInput("ann.jpg", synthetic_photo("ann"))], external_id="ann")
        with injecting() as injector, pytest.raises(Crash):
            injector.fault = Fault(0, BEFORE, crash(injector), operation="dynamodb.BatchWriteItem")
            service.holdings.delete_person(organization, "ann", OPERATOR)
    clock.now += RETIREMENT_SECONDS + 1
    sweeper, cursor, steps = Sweeper(service.writes), None, 0
    while True:
        pages = iter([False, True])  # one page, then stop: every step ends with a cursor
        cursor, _ = sweeper.step(cursor, stop=lambda: next(pages))
        steps += 1
        if cursor is None:
            break
        cursor = SweepCursor.from_json(json.loads(json.dumps(cursor.to_json())))  # as a message carries it
    assert steps >= 2 * len(organizations)  # objects, then items, of each
    for organization in organizations:
        assert traces_of(organization, "ann") == []
