"""Make moto's in-memory S3 and DynamoDB as atomic as the real services, under concurrency.

moto checks an S3 ``If-Match`` / ``If-None-Match`` and then stores the object as two separate
steps, and applies a DynamoDB ``ADD`` or condition as a read followed by a write: two threads
can both pass, a lost update or a duplicate counter value that S3 and DynamoDB never allow.
FaceMatch's write protocol (docs/write-protocol.md) relies on those guarantees, so the local
stack and the tests serialise every moto operation it writes with, deletes included (a delete
must not land between another request's condition check and its write). Only the in-memory
stores change; nothing in FaceMatch does.
"""

from __future__ import annotations

import functools
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response

_lock = threading.RLock()
# AWS operation -> the moto handler method that carries it out.
SERIALISED = {
    "s3.PutObject": (S3Response, "put_object"),
    "s3.DeleteObject": (S3Response, "delete_object"),
    "s3.DeleteObjects": (S3Response, "_bucket_response_delete_keys"),
    # Not a write, but moto's version listing fails if another thread deletes meanwhile.
    "s3.ListObjectVersions": (S3Response, "list_object_versions"),
    "dynamodb.UpdateItem": (DynamoHandler, "update_item"),
    "dynamodb.PutItem": (DynamoHandler, "put_item"),
    "dynamodb.DeleteItem": (DynamoHandler, "delete_item"),
    "dynamodb.BatchWriteItem": (DynamoHandler, "batch_write_item"),
    "dynamodb.TransactWriteItems": (DynamoHandler, "transact_write_items"),
}


def make_writes_atomic() -> None:
    for owner, name in SERIALISED.values():
        original = getattr(owner, name)
        if getattr(original, "_facematch_atomic", False):
            continue

        @functools.wraps(original)
        def serialised(self, *args, _original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            with _lock:
                return _original(self, *args, **kwargs)

        serialised._facematch_atomic = True  # type: ignore[attr-defined]
        setattr(owner, name, serialised)
