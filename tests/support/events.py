"""API Gateway proxy events built from the templates in events/, as API Gateway delivers them."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from urllib3 import encode_multipart_formdata

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def multipart_event(
    template: str, fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    """The template event with a multipart body of form ``fields`` and ``(field, filename, bytes)`` files."""
    parts: list[tuple[str, Any]] = list(fields)
    parts += [(field, (filename, content, "image/jpeg")) for field, filename, content in files]
    body, content_type = encode_multipart_formdata(parts)
    return with_body(load_event(template), body, content_type)


def json_event(template: str, payload: dict[str, Any]) -> dict[str, Any]:
    event = load_event(template)
    event = with_body(event, json.dumps(payload).encode(), "application/json")
    # API Gateway passes non-binary media types through as text.
    event["body"] = base64.b64decode(event["body"]).decode()
    event["isBase64Encoded"] = False
    return event


def with_body(event: dict[str, Any], body: bytes, content_type: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    return event
