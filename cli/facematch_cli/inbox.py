"""``facematch import --via-s3``: each photo PUT to the bucket's inbox through a presigned URL,
its label signed in as object metadata; then its outcome followed in ``GET /api/uploads``."""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from facematch_cli.pacing import Pace, paced_call
from facematch_cli.photo_tree import Outcome, TreePhoto, in_parallel

# How long outcomes are followed once every photo is uploaded, and how often they are read.
FOLLOW_SECONDS = 900.0
POLL_SECONDS = 2.0
PAGE = 1000


def upload_all(
    client: httpx.Client,
    pace: Pace,
    photos: list[TreePhoto],
    options: dict[str, str],
    concurrency: int,
    advance: Callable[[], Any],
) -> list[Outcome]:
    """Upload every photo, then wait for each one's outcome (at most FOLLOW_SECONDS)."""
    pending: dict[str, TreePhoto] = {}  # upload key -> photo
    lock = threading.Lock()
    storage = httpx.Client(timeout=client.timeout)  # S3: no API key goes there

    def put(photo: TreePhoto) -> list[Outcome]:
        content = photo.path.read_bytes()
        content_type = mimetypes.guess_type(photo.path.name)[0] or "application/octet-stream"
        body, error = paced_call(
            client, pace, "POST", "/api/uploads",
            data={
                "organization": photo.organization, "external_id": photo.person, "filename": photo.path.name,
                "content_type": content_type, "size": str(len(content)), **options,
            },
        )
        if error is None:
            response = storage.request(body["method"], body["url"], headers=body["headers"], content=content)
            if response.is_success:
                with lock:
                    pending[body["key"]] = photo
                return []
            error = {"code": f"S3_{response.status_code}", "message": response.text.strip()[:200]}
        advance()
        return [Outcome(photo, "failed", error)]

    with storage:
        failed = in_parallel(put, photos, concurrency, threading.Event())
    return failed + _follow(client, pace, pending, advance)


def _follow(client: httpx.Client, pace: Pace, pending: dict[str, TreePhoto], advance: Callable[[], Any]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + FOLLOW_SECONDS
    while pending and time.monotonic() < deadline:
        for organization in sorted({photo.organization for photo in pending.values()}):
            for upload in _recent(client, pace, organization, {k for k, p in pending.items() if p.organization == organization}):
                photo = pending.pop(upload["key"])
                outcomes.append(Outcome(photo, upload["status"], upload.get("error")))
                advance()
        if pending:
            time.sleep(POLL_SECONDS)
    return outcomes + [
        Outcome(photo, "failed", {"code": "NO_OUTCOME", "message": f"no outcome in {FOLLOW_SECONDS:g} s: see GET /api/uploads for {key}"})
        for key, photo in pending.items()
    ]


def _recent(client: httpx.Client, pace: Pace, organization: str, wanted: set[str]) -> list[dict[str, Any]]:
    """The outcomes of ``wanted`` uploads recorded so far: pages newest first, until all are found."""
    found, token = [], None
    while wanted:
        params = {"organization": organization, "limit": str(PAGE), **({"next_token": token} if token else {})}
        body, error = paced_call(client, pace, "GET", "/api/uploads", params=params)
        if error:
            return found
        for upload in body["uploads"]:
            if upload["key"] in wanted:
                wanted.discard(upload["key"])
                found.append(upload)
        token = body.get("next_token")
        if not token:
            break
    return found
