"""The S3 shard store: an organization's vectors as immutable binary shards plus one manifest.

Layout, per organization and model (vectors of different models never meet):
    orgs/<organization>/models/<model>/manifest.json   the committed shard list
    orgs/<organization>/models/<model>/shards/<uuid>.npz   ids (int64) + vectors (float32)

A shard is written once (``IfNoneMatch``) and is invisible until the manifest names it.
The manifest changes only by compare-and-swap on its ETag (``IfMatch``), so concurrent
enrollments each commit their shard and none is lost.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.config import get_settings
from facematch.errors import StoreConflict

_COMMIT_ATTEMPTS = 25
# Both mean "someone else wrote first": S3 answers 412, or 409 while a racing write is in flight.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


@dataclass(frozen=True)
class ShardRef:
    key: str
    count: int


@dataclass(frozen=True)
class Manifest:
    shards: tuple[ShardRef, ...] = ()
    etag: str | None = None

    @property
    def size(self) -> int:
        return sum(shard.count for shard in self.shards)

    def to_json(self) -> bytes:
        return json.dumps(
            {"version": 1, "shards": [{"key": s.key, "count": s.count} for s in self.shards]}
        ).encode()

    @classmethod
    def from_json(cls, body: bytes, etag: str) -> Manifest:
        data = json.loads(body)
        return cls(
            shards=tuple(ShardRef(key=s["key"], count=s["count"]) for s in data["shards"]),
            etag=etag,
        )


@dataclass(frozen=True)
class Shard:
    ids: np.ndarray
    vectors: np.ndarray = field(repr=False)


def _prefix(organization: str, model: str) -> str:
    return f"orgs/{organization}/models/{model}/"


def _is_conflict(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _CONFLICT_CODES


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}


class ShardStore:
    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or get_settings().bucket

    def write_shard(
        self, organization: str, model: str, ids: np.ndarray, vectors: np.ndarray
    ) -> ShardRef:
        buffer = io.BytesIO()
        np.savez(buffer, ids=ids.astype(np.int64), vectors=vectors.astype(np.float32))
        key = f"{_prefix(organization, model)}shards/{uuid.uuid4().hex}.npz"
        client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=buffer.getvalue(), IfNoneMatch="*",
            ContentType="application/octet-stream",
        )
        return ShardRef(key=key, count=len(ids))

    def read_shard(self, key: str) -> Shard:
        body = client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()
        with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
            return Shard(ids=arrays["ids"], vectors=arrays["vectors"])

    def delete_objects(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            client("s3").delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True},
            )

    def read_manifest(
        self, organization: str, model: str, *, if_changed_from: str | None = None
    ) -> Manifest | None:
        """The committed manifest; ``None`` when it still has ETag ``if_changed_from``."""
        request = {"Bucket": self.bucket, "Key": f"{_prefix(organization, model)}manifest.json"}
        if if_changed_from:
            request["IfNoneMatch"] = if_changed_from
        try:
            response = client("s3").get_object(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"304", "NotModified"}:
                return None
            if _is_missing(error):
                return Manifest()
            raise
        return Manifest.from_json(response["Body"].read(), response["ETag"])

    def commit(
        self,
        organization: str,
        model: str,
        *,
        add: Iterable[ShardRef] = (),
        remove: Iterable[str] = (),
    ) -> Manifest:
        """Add and remove shards in the manifest atomically, retrying when another writer won."""
        add, remove = tuple(add), set(remove)
        key = f"{_prefix(organization, model)}manifest.json"
        for attempt in range(_COMMIT_ATTEMPTS):
            current = self.read_manifest(organization, model)
            updated = Manifest(
                shards=tuple(s for s in current.shards if s.key not in remove) + add
            )
            condition = {"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}
            try:
                response = client("s3").put_object(
                    Bucket=self.bucket, Key=key, Body=updated.to_json(),
                    ContentType="application/json", **condition,
                )
            except ClientError as error:
                if not _is_conflict(error):
                    raise
                # Full jitter keeps racing writers from colliding again in lockstep.
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
                continue
            return Manifest(shards=updated.shards, etag=response["ETag"])
        raise StoreConflict(
            f"Too many concurrent writers for organization {organization!r}; retry the request."
        )
