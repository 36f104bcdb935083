"""Make moto's in-memory S3 and DynamoDB as atomic as the real services, under concurrency.

moto checks an S3 ``If-Match`` / ``If-None-Match`` and then stores the object as two separate
steps, and applies a DynamoDB ``ADD`` or condition as a read followed by a write: two threads
can both pass, a lost update or a duplicate counter value that S3 and DynamoDB never allow.
FaceMatch's manifest and id counter rely on those guarantees, so the local stack and the tests
serialise these moto operations (only the in-memory stores'; nothing in FaceMatch changes).
"""

from __future__ import annotations

import functools
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response

_lock = threading.RLock()
_OPERATIONS = (
    (S3Response, "put_object"),
    (DynamoHandler, "update_item"),
    (DynamoHandler, "put_item"),
    (DynamoHandler, "transact_write_items"),
)


def make_writes_atomic() -> None:
    for owner, name in _OPERATIONS:
        original = getattr(owner, name)
        if getattr(original, "_facematch_atomic", False):
            continue

        @functools.wraps(original)
        def serialised(self, *args, _original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            with _lock:
                return _original(self, *args, **kwargs)

        serialised._facematch_atomic = True  # type: ignore[attr-defined]
        setattr(owner, name, serialised)
