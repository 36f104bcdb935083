"""Call a handler module with API Gateway events, and read its answer as API Gateway would."""

from __future__ import annotations

import base64
import json
from typing import Any

from facematch_testing.events import ADMIN, api_event, multipart_event

Photo = tuple[str, bytes]  # file name, bytes


def invoke(handler_module, event: dict[str, Any], context) -> tuple[int, dict[str, Any]]:
    response = handler_module.lambda_handler(event, context)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], json.loads(body)


def enroll(
    app, context, organization: str | None, photos: list[Photo], caller=ADMIN, **fields: Any
) -> tuple[int, dict[str, Any]]:
    """``POST /api/embeddings`` with the photos as multipart ``images`` and any other form fields."""
    event = multipart_event(
        "enroll-multipart.json",
        _form(organization, fields),
        [("images", name, content) for name, content in photos],
        caller,
    )
    return invoke(app, event, context)


def enrolled_ids(app, context, organization: str, photos: list[Photo], **fields: Any) -> list[int]:
    """Enroll, insisting on a 201; the new embed_ids."""
    status, body = enroll(app, context, organization, photos, **fields)
    assert status == 201, body
    return [embedding["embed_id"] for embedding in body["embeddings"]]


def compare(
    app, context, organization: str | None, photo: Photo, caller=ADMIN, **fields: Any
) -> tuple[int, dict[str, Any]]:
    """``POST /api/face-compare`` with the photo as multipart ``image`` and any other form fields."""
    event = multipart_event("compare-multipart.json", _form(organization, fields), [("image", *photo)], caller)
    return invoke(app, event, context)


def request(
    app, context, method: str, path: str, query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None, caller=ADMIN,
) -> tuple[int, dict[str, Any]]:
    """Any body-less request."""
    return invoke(app, api_event(method, path, query, path_parameters, caller), context)


def _form(organization: str | None, fields: dict[str, Any]) -> list[tuple[str, str]]:
    named = [("organization", organization)] if organization is not None else []
    return named + [(name, str(value)) for name, value in fields.items()]
