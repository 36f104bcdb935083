"""Make moto's S3 honour conditional writes the way S3 does, under concurrency.

moto checks ``If-Match`` / ``If-None-Match`` and then stores the object as two separate steps,
so two threads can both pass the check: a lost update that real S3 never allows. FaceMatch's
manifest relies on that guarantee, so the local stack and the tests serialise moto's
``PutObject`` (only the in-memory store's; nothing in FaceMatch changes).
"""

from __future__ import annotations

import functools
import threading

from moto.s3.responses import S3Response

_lock = threading.Lock()


def make_conditional_writes_atomic() -> None:
    if getattr(S3Response.put_object, "_facematch_atomic", False):
        return
    original = S3Response.put_object

    @functools.wraps(original)
    def put_object(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with _lock:
            return original(self, *args, **kwargs)

    put_object._facematch_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object
