"""What is physically in the bucket: every version of every object, not just the current ones."""

from __future__ import annotations

import io
import os

import numpy as np

from facematch.aws import client


def versions(prefix: str) -> list[dict]:
    listing = client("s3").get_paginator("list_object_versions").paginate(
        Bucket=os.environ["FACEMATCH_BUCKET"], Prefix=prefix
    )
    return [v for page in listing for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]


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
