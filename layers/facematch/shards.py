"""The S3 shard store: an organization's vectors as immutable binary shards plus one manifest.

Layout, per organization and model (vectors of different models never meet):
    orgs/<organization>/models/<model>/manifest.json     the committed shard list
    orgs/<organization>/models/<model>/shards/<uuid>.npy  ids (int64 .npy) then vectors (float32 .npy)

A shard is written once (``IfNoneMatch``) and is invisible until the manifest names it.
The manifest changes only by compare-and-swap on its ETag (``IfMatch``), so concurrent
writers each commit their change and none is lost. Shards a commit drops are then purged
with all their versions (the bucket is versioned; deleted faces must not linger).
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.config import get_settings
from facematch.errors import StoreConflict

_COMMIT_ATTEMPTS = 25
# Both mean "someone else wrote first": S3 answers 412, or 409 while a racing write is in flight.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NoSuchVersion"}
# Small reads: each loading thread keeps a buffer this size, and 16 run at once.
_READ_CHUNK = 1024 * 1024
# How long a shard compaction replaced stays readable: far longer than loading a million
# vectors takes. At most MAX_RETIRED are kept (oldest expire first), so a burst of small
# enrollments cannot grow the manifest; a reader that still misses one reads the manifest again.
RETIREMENT_SECONDS = 60
MAX_RETIRED = 8


@dataclass(frozen=True)
class ShardRef:
    key: str
    count: int
    # A shard is written once, so this is its only version: purging it needs no listing.
    version: str | None = None
    # When compaction replaced it. A replaced shard stays readable for a grace period, so a
    # reader still working from the previous manifest never finds it gone.
    retired_at: float | None = None

    def to_dict(self) -> dict[str, object]:
        # Explicit, not dataclasses.asdict: a manifest is written on every commit.
        return {"key": self.key, "count": self.count, "version": self.version, "retired_at": self.retired_at}


@dataclass(frozen=True)
class Manifest:
    shards: tuple[ShardRef, ...] = ()
    retired: tuple[ShardRef, ...] = ()
    etag: str | None = None

    def keys(self) -> set[str]:
        return {shard.key for shard in self.shards}

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": 1,
                "shards": [shard.to_dict() for shard in self.shards],
                "retired": [shard.to_dict() for shard in self.retired],
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes, etag: str) -> Manifest:
        data = json.loads(body)
        return cls(
            shards=tuple(ShardRef(**shard) for shard in data["shards"]),
            retired=tuple(ShardRef(**shard) for shard in data.get("retired", [])),
            etag=etag,
        )


@dataclass(frozen=True)
class Commit:
    manifest: Manifest
    # Shards the commit took out of service for good: the caller deletes them now.
    expired: tuple[ShardRef, ...]


class ShardMissing(Exception):
    """A shard named by a manifest that a later commit has already dropped and purged."""


def organization_prefix(organization: str) -> str:
    return f"orgs/{organization}/"


def _model_prefix(organization: str, model: str) -> str:
    return f"{organization_prefix(organization)}models/{model}/"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code"))


def encode_shard(ids: np.ndarray, vectors: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(ids, dtype=np.int64), allow_pickle=False)
    np.lib.format.write_array(
        buffer, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False
    )
    return buffer.getvalue()


def _read_array_into(stream, target: np.ndarray) -> None:
    """Read one .npy array from a stream straight into ``target``: no intermediate copy."""
    np.lib.format.read_magic(stream)
    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    if fortran_order or dtype != target.dtype or shape != target.shape:
        raise ValueError(f"shard array {shape} {dtype} does not fit {target.shape} {target.dtype}")
    view = memoryview(target.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(view):
        read = stream.readinto(view[filled : filled + _READ_CHUNK])
        if not read:
            raise ValueError("shard object ended early")
        filled += read


class ShardStore:
    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or get_settings().bucket

    def write_shard(
        self, organization: str, model: str, ids: np.ndarray, vectors: np.ndarray
    ) -> ShardRef:
        key = f"{_model_prefix(organization, model)}shards/{uuid.uuid4().hex}.npy"
        response = client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=encode_shard(ids, vectors),
            IfNoneMatch="*",
            ContentType="application/octet-stream",
        )
        return ShardRef(key=key, count=len(ids), version=response.get("VersionId"))

    def read_shard_into(self, key: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Fill ``ids`` and ``vectors`` (preallocated slices of the right shape) from a shard."""
        with self._body(key) as body:
            _read_array_into(body, ids)
            _read_array_into(body, vectors)

    def read_shard(self, ref: ShardRef, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.empty(ref.count, np.int64)
        vectors = np.empty((ref.count, dimensions), np.float32)
        self.read_shard_into(ref.key, ids, vectors)
        return ids, vectors

    def read_shard_ids(self, ref: ShardRef) -> np.ndarray:
        """Only a shard's ids, which come first: a ranged GET of 8 bytes per vector."""
        ids = np.empty(ref.count, np.int64)
        # The .npy header is padded to 64 bytes and is far below 4 KiB for a 1-D array.
        with self._body(ref.key, Range=f"bytes=0-{4096 + ids.nbytes}") as body:
            _read_array_into(body, ids)
        return ids

    def _body(self, key: str, **request):  # noqa: ANN202 - botocore's StreamingBody
        try:
            return client("s3").get_object(Bucket=self.bucket, Key=key, **request)["Body"]
        except ClientError as error:
            if _error_code(error) in _MISSING_CODES:
                raise ShardMissing(key) from error
            raise

    def read_manifest(
        self, organization: str, model: str, *, if_changed_from: str | None = None
    ) -> Manifest | None:
        """The committed manifest; ``None`` when it still has ETag ``if_changed_from``."""
        request = {"Bucket": self.bucket, "Key": f"{_model_prefix(organization, model)}manifest.json"}
        if if_changed_from:
            request["IfNoneMatch"] = if_changed_from
        try:
            response = client("s3").get_object(**request)
        except ClientError as error:
            if _error_code(error) in {"304", "NotModified"}:
                return None
            if _error_code(error) in _MISSING_CODES:
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
        erase: bool = False,
    ) -> Commit | None:
        """Swap shards in the manifest atomically, retrying when another writer won the race.

        Removed shards retire (stay readable for a grace period) unless ``erase``: a deletion
        must not leave its vectors anywhere, so then every retired shard expires at once too.
        Returns ``None`` (and changes nothing) when a shard to remove is no longer there: a
        concurrent compaction or deletion already replaced it, so this change must be redone.
        """
        add, remove = tuple(add), set(remove)
        key = f"{_model_prefix(organization, model)}manifest.json"
        for attempt in range(_COMMIT_ATTEMPTS):
            current = self.read_manifest(organization, model)
            if not remove <= current.keys():
                return None
            now = time.time()
            removed = tuple(
                replace(s, retired_at=now) for s in current.shards if s.key in remove
            )
            retired = current.retired + removed
            if erase:
                expired, retired = retired, ()
            else:
                keep = [s for s in retired if now - s.retired_at <= RETIREMENT_SECONDS][-MAX_RETIRED:]
                expired = tuple(s for s in retired if s not in keep)
                retired = tuple(keep)
            updated = Manifest(
                shards=tuple(s for s in current.shards if s.key not in remove) + add,
                retired=retired,
            )
            condition = {"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}
            try:
                response = client("s3").put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=updated.to_json(),
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as error:
                if _error_code(error) not in _CONFLICT_CODES:
                    raise
                # Full jitter keeps racing writers from colliding again in lockstep.
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
                continue
            return Commit(replace(updated, etag=response["ETag"]), expired)
        raise StoreConflict(
            f"Too many concurrent writers for organization {organization!r}; retry the request."
        )

    def purge_shards(self, shards: Iterable[ShardRef]) -> None:
        """Delete shards for good: the one version each was written as."""
        objects = [
            {"Key": shard.key, **({"VersionId": shard.version} if shard.version else {})}
            for shard in shards
        ]
        for start in range(0, len(objects), 1000):
            client("s3").delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )

    def purge(self, keys: Iterable[str]) -> None:
        """Delete objects with every one of their versions."""
        for key in keys:
            self._delete_versions(key, exact=True)

    def purge_prefix(self, prefix: str) -> None:
        """Delete every object under a prefix, with every version and delete marker."""
        self._delete_versions(prefix, exact=False)

    def _delete_versions(self, prefix: str, *, exact: bool) -> None:
        s3 = client("s3")
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            entries = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
                if not exact or entry["Key"] == prefix
            ]
            if entries:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": entries, "Quiet": True})
