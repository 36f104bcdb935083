"""Concurrent enrollments lose nothing, and a failed enrollment leaves nothing behind."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from facematch.aws import client
from facematch.service import ImageInput

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("aws")]


def _all_versions(prefix: str = "") -> list[tuple[str, str]]:
    """Every version of every object: deleted data must be gone, not merely hidden."""
    pages = client("s3").get_paginator("list_object_versions").paginate(
        Bucket=os.environ["FACEMATCH_BUCKET"], Prefix=prefix
    )
    return sorted(
        (entry["Key"], entry["VersionId"])
        for page in pages
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
    )


def _all_items() -> list[dict]:
    return client("dynamodb").scan(TableName=os.environ["FACEMATCH_TABLE"])["Items"]


def test_concurrent_enrollments_into_one_organization_all_get_distinct_ids_and_are_found(
    embedding_app, comparison_app, faces_dir, organization
):
    files = [f"img{n}.jpg" for n in range(1, 17)]
    photos = {name: (faces_dir / name).read_bytes() for name in files}
    service = embedding_app.service

    def enroll_one(name: str) -> int:
        result = service.enroll(organization, [ImageInput(name=name, data=photos[name])])
        return result.embeddings[0].embed_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = dict(zip(files, pool.map(enroll_one, files)))

    assert sorted(ids.values()) == list(range(1, len(files) + 1))
    assert comparison_app.service.vectors.refresh(organization, "Dlib") == len(files)
    for name in files:
        result = comparison_app.service.compare(organization, ImageInput(name=name, data=photos[name]))
        assert result.embed_id == ids[name]
        assert result.distance == pytest.approx(0.0, abs=1e-5)


def test_a_failed_commit_leaves_no_shard_and_no_metadata_and_ids_are_not_reused(
    embedding_app, faces_dir, organization, monkeypatch
):
    service = embedding_app.service
    photo = ImageInput(name="img1.jpg", data=(faces_dir / "img1.jpg").read_bytes())
    first = service.enroll(organization, [photo]).embeddings[0].embed_id
    versions_before, items_before = _all_versions(), _all_items()

    def broken_commit(*args, **kwargs):
        raise ConnectionError("S3 went away")

    monkeypatch.setattr(service.vectors.shards, "commit", broken_commit)
    with pytest.raises(ConnectionError):
        service.enroll(organization, [photo])
    monkeypatch.undo()

    assert _all_versions() == versions_before
    counter = [item for item in _all_items() if item["sk"]["S"] == "COUNTER"]
    assert [item for item in _all_items() if item["sk"]["S"] != "COUNTER"] == [
        item for item in items_before if item["sk"]["S"] != "COUNTER"
    ]
    assert counter[0]["last_id"]["N"] == str(first + 1)
    assert service.enroll(organization, [photo]).embeddings[0].embed_id == first + 2
