"""Concurrent enrollments lose nothing, and a failed enrollment leaves nothing behind."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from facematch.aws import client
from facematch.inputs import ImageInput
from facematch.writes import NewFace
from facematch_testing.aws import all_items, versions
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def test_concurrent_enrollments_into_one_organization_all_get_distinct_ids_and_are_found(
    api_app, matching_app, organization
):
    files = [f"person-{n}.jpg" for n in range(1, 9)]
    photos = {name: synthetic_photo(name) for name in files}
    service = api_app.service
    # Embedded first: the model runs one photo at a time, so enrolling through it would never
    # let two enrollments reach the id counter and the manifest at once.
    faces = {name: service.enrollment.embed(ImageInput(name=name, data=photos[name])) for name in files}
    # Every enrollment finishes its first DynamoDB request (the id counter) before any goes on:
    # then all of them have asked for ids at once, and a counter that reads and then writes
    # hands all of them the same id.
    together = threading.Barrier(len(files), timeout=30)
    first_call_done = threading.local()

    def wait_for_the_others(context, **_) -> None:  # noqa: ANN001, ANN003
        if not getattr(first_call_done, "value", False):
            first_call_done.value = True
            together.wait()

    def enroll_one(name: str) -> int:
        face = NewFace(vector=faces[name].vector, box=vars(faces[name].box), source=name)
        (record,) = service.writes.enroll(organization, service.settings.model, [face], None)
        return record.embed_id

    dynamodb = client("dynamodb")
    dynamodb.meta.events.register("after-call.dynamodb", wait_for_the_others, unique_id="all-ask-at-once")
    try:
        with ThreadPoolExecutor(max_workers=len(files)) as pool:
            ids = dict(zip(files, pool.map(enroll_one, files)))
    finally:
        dynamodb.meta.events.unregister("after-call.dynamodb", unique_id="all-ask-at-once")

    assert sorted(ids.values()) == list(range(1, len(files) + 1))
    assert matching_app.service.vectors.refresh(organization, "Dlib") == len(files)
    for name in files:
        result = matching_app.service.matching.compare(organization, ImageInput(name=name, data=photos[name]))
        assert result.embed_id == ids[name]
        assert result.distance == pytest.approx(0.0, abs=1e-5)


def test_a_failed_commit_leaves_no_shard_and_no_metadata_and_ids_are_not_reused(
    api_app, organization, monkeypatch
):
    service = api_app.service
    photo = ImageInput(name="alice.jpg", data=synthetic_photo("alice"))
    first = service.enrollment.enroll(organization, [photo]).embeddings[0].embed_id
    versions_before, items_before = sorted((v["Key"], v["VersionId"]) for v in versions()), all_items()

    def broken_commit(*args, **kwargs):
        raise ConnectionError("S3 went away")

    monkeypatch.setattr(service.writes.shards, "swap_manifest", broken_commit)
    with pytest.raises(ConnectionError):
        service.enrollment.enroll(organization, [photo])
    monkeypatch.undo()

    assert sorted((v["Key"], v["VersionId"]) for v in versions()) == versions_before
    counter = [item for item in all_items() if item["sk"]["S"] == "COUNTER"]
    assert [item for item in all_items() if item["sk"]["S"] != "COUNTER"] == [
        item for item in items_before if item["sk"]["S"] != "COUNTER"
    ]
    assert counter[0]["last_id"]["N"] == str(first + 1)
    assert service.enrollment.enroll(organization, [photo]).embeddings[0].embed_id == first + 2
