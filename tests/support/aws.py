"""A mocked AWS account (moto, in process) with FaceMatch's resources, and what it physically holds."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from moto import mock_aws

from facematch.aws import client
from facematch_local.moto_atomic import make_writes_atomic
from facematch_local.resources import create_resources, load_template


@contextmanager
def mocked_aws() -> Iterator[dict[str, str]]:
    """A fresh account with the bucket, table and queues of template.yaml; yields the queue URLs.

    moto's conditional writes are made atomic first, as S3's and DynamoDB's are. FaceMatch's
    boto3 clients are kept from one account to the next: moto intercepts every client created
    after it was imported, and building clients is most of a fresh account's cost."""
    make_writes_atomic()
    with mock_aws():
        yield create_resources(os.environ["FACEMATCH_BUCKET"], os.environ["FACEMATCH_TABLE"], _template())


def versions(prefix: str = "") -> list[dict]:
    """Every version and delete marker under ``prefix``: deleted data must be gone, not hidden."""
    listing = client("s3").get_paginator("list_object_versions").paginate(
        Bucket=os.environ["FACEMATCH_BUCKET"], Prefix=prefix
    )
    return [v for page in listing for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]


def all_items() -> list[dict]:
    return client("dynamodb").scan(TableName=os.environ["FACEMATCH_TABLE"])["Items"]


def stored_ids(organization: str) -> list[int]:
    """Every id in every stored version of every shard of the organization."""
    ids: list[int] = []
    for version in versions(f"orgs/{organization}/"):
        if version["Key"].endswith(".npy") and "Size" in version:  # a version, not a delete marker
            body = client("s3").get_object(
                Bucket=os.environ["FACEMATCH_BUCKET"], Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            ids += np.load(io.BytesIO(body)).tolist()  # a shard's first array is its ids
    return sorted(ids)


@functools.cache
def _template() -> dict:
    return load_template()
