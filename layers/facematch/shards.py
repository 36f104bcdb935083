"""The S3 shard store: immutable binary shards and the manifest that names them (data access only).

Layout, per organization (``writes.py`` decides what is written when; this module only talks to S3):
    orgs/<organization>/manifest.json                               the commit point (manifest.py)
    orgs/<organization>/g<generation>/models/<model>/shards/<name>.npy  ids (int64 .npy) then vectors (float32 .npy)
    orgs/<organization>/g<generation>/models/<model>/retired/<name>.json  a retirement batch (manifest.py)
    orgs/<organization>/g<generation>/images/<embed_id>               source photos, when kept

A shard is written once (``IfNoneMatch``) and is invisible until the manifest names it. The
manifest is replaced only by compare-and-swap on its ETag (``IfMatch``).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.config import get_settings
from facematch.manifest import Manifest, RetiredBatch, ShardRef

# Both mean "someone else wrote first": S3 answers 412, or 409 while a racing write is in flight.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NoSuchVersion"}
# Small reads: each loading thread keeps a buffer this size, and 16 run at once.
_READ_CHUNK = 1024 * 1024
# ListObjectVersions' largest page, and as many keys as one DeleteObjects takes.
_LIST_PAGE = 1000


class ManifestConflict(Exception):
    """The manifest changed since it was read (or, after a lost reply, this very write landed)."""


class ShardMissing(Exception):
    """A shard named by a manifest that a later commit has already dropped and purged."""


@dataclass(frozen=True)
class StoredVersion:
    """One version (or delete marker) of an object, as a listing gives it."""

    key: str
    version: str
    last_modified: float  # epoch seconds
    delete_marker: bool = False


def organization_prefix(organization: str) -> str:
    return f"orgs/{organization}/"


def generation_prefix(organization: str, generation: int) -> str:
    return f"{organization_prefix(organization)}g{generation}/"


def shards_prefix(organization: str, generation: int, model: str) -> str:
    return f"{generation_prefix(organization, generation)}models/{model}/shards/"


def manifest_key(organization: str) -> str:
    return f"{organization_prefix(organization)}manifest.json"


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
        self,
        organization: str,
        generation: int,
        model: str,
        ids: np.ndarray,
        vectors: np.ndarray,
    ) -> ShardRef:
        """Write a new shard under a fresh name, once (``IfNoneMatch``: it never replaces one)."""
        key = f"{shards_prefix(organization, generation, model)}{uuid.uuid4().hex}.npy"
        response = client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=encode_shard(ids, vectors),
            IfNoneMatch="*",
            ContentType="application/octet-stream",
        )
        return ShardRef(
            key=key,
            count=len(ids),
            version=response.get("VersionId"),
            min_id=int(ids.min()) if len(ids) else None,
            max_id=int(ids.max()) if len(ids) else None,
        )

    def write_batch(
        self, organization: str, generation: int, model: str, retired: list[ShardRef], opened_at: float
    ) -> RetiredBatch:
        """Write a retirement batch listing ``retired`` (written once, under a fresh name)."""
        key = f"{generation_prefix(organization, generation)}models/{model}/retired/{uuid.uuid4().hex}.json"
        response = client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps([ref.to_dict() for ref in retired]).encode(),
            IfNoneMatch="*",
            ContentType="application/json",
        )
        return RetiredBatch(key, response.get("VersionId"), opened_at, len(retired))

    def read_batch(self, batch: RetiredBatch) -> list[ShardRef]:
        """The shards a retirement batch lists (``ShardMissing`` once it was replaced and purged)."""
        with self._body(batch.key) as body:
            return [ShardRef(**entry) for entry in json.loads(body.read())]

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

    def read_manifest(self, organization: str, *, if_changed_from: str | None = None) -> Manifest | None:
        """The committed manifest (an empty one if none was written); ``None`` when it still has
        ETag ``if_changed_from``."""
        request = {"Bucket": self.bucket, "Key": manifest_key(organization)}
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

    def swap_manifest(self, organization: str, current: Manifest, updated: Manifest) -> str:
        """Replace ``current`` by ``updated`` unless the manifest changed since; the new ETag."""
        condition = {"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}
        try:
            response = client("s3").put_object(
                Bucket=self.bucket,
                Key=manifest_key(organization),
                Body=updated.to_json(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _error_code(error) in _CONFLICT_CODES:
                raise ManifestConflict(organization) from error
            raise
        return response["ETag"]

    def purge_shards(self, shards: Iterable[ShardRef | RetiredBatch]) -> None:
        """Delete shards (or retirement batches) for good: the one version each was written as."""
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
            more, start = True, None
            while more:
                _, more, start = self.delete_versions_page(key, lambda listed, key=key: listed == key, start)

    def delete_versions_page(
        self, prefix: str, deletable: Callable[[str], bool], start: tuple[str, str] | None = None
    ) -> tuple[int, bool, tuple[str, str] | None]:
        """Delete the versions and delete markers of one listing page (up to 1000) under a prefix,
        from ``start`` on, whose keys are ``deletable``. Returns how many, whether more may be
        listed, and where the next page starts: the same place when this page deleted anything
        (what it deleted is gone, and a marker naming a deleted version is no place to start)."""
        s3 = client("s3")
        request = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": _LIST_PAGE}
        if start:
            request.update(KeyMarker=start[0], VersionIdMarker=start[1])
        page = s3.list_object_versions(**request)
        entries = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if deletable(entry["Key"])
        ]
        if entries:
            errors = s3.delete_objects(Bucket=self.bucket, Delete={"Objects": entries, "Quiet": True}).get("Errors")
            if errors:  # left in place: the caller's retry deletes them
                raise RuntimeError(f"S3 kept {len(errors)} version(s): {sorted({e.get('Code') for e in errors})}")
        more = bool(page.get("IsTruncated"))
        if entries or not more:
            return len(entries), more, start
        return 0, more, (page["NextKeyMarker"], page["NextVersionIdMarker"])

    def organizations(self, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` organizations with a manifest or objects, in name order after ``after``."""
        request = {"Bucket": self.bucket, "Prefix": "orgs/", "Delimiter": "/", "MaxKeys": limit}
        if after:
            request["StartAfter"] = organization_prefix(after)
        response = client("s3").list_objects_v2(**request)
        return [entry["Prefix"][len("orgs/") : -1] for entry in response.get("CommonPrefixes", [])]

    def versions(self, prefix: str, after: str | None = None) -> Iterator[list[StoredVersion]]:
        """Every version and delete marker under ``prefix``, a listing page (1000) at a time,
        starting after the key ``after`` (the cursor of a sweep that stopped there)."""
        request = {"Bucket": self.bucket, "Prefix": prefix}
        if after:
            request["KeyMarker"] = after
        for page in client("s3").get_paginator("list_object_versions").paginate(**request):
            yield [
                StoredVersion(entry["Key"], entry["VersionId"], _epoch(entry["LastModified"]), marker)
                for marker, entries in ((False, page.get("Versions", [])), (True, page.get("DeleteMarkers", [])))
                for entry in entries
            ]

    def delete_versions(self, versions: Iterable[StoredVersion]) -> None:
        objects = [{"Key": v.key, "VersionId": v.version} for v in versions]
        for start in range(0, len(objects), 1000):
            client("s3").delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )


def _epoch(value: datetime | str) -> float:
    return value.timestamp() if isinstance(value, datetime) else datetime.fromisoformat(value).timestamp()
