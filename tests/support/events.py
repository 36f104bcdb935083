"""API Gateway proxy events built from the templates in events/, as API Gateway delivers them."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from urllib3 import encode_multipart_formdata

from facematch.audit import Actor

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
# What API Gateway passes on from the authorizer for the admin key, and for an organization's key.
ADMIN = {"role": "admin", "key_id": "admin", "principalId": "admin"}
# Who the audit trail names when a test calls a use case directly rather than through a route.
OPERATOR = Actor("operator")


def organization_key(organization: str) -> dict[str, str]:
    return {"role": "organization", "organization": organization, "key_id": "0123456789ab", "principalId": "0123456789ab"}


def as_caller(event: dict[str, Any], caller: dict[str, str] | None) -> dict[str, Any]:
    """The event as API Gateway delivers it after the authorizer let ``caller`` through."""
    event["requestContext"]["authorizer"] = caller
    return event


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def api_event(
    method: str, path: str, query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None, caller: dict[str, str] | None = ADMIN,
) -> dict[str, Any]:
    """A body-less request to any route (the health event's headers and context)."""
    event = load_event("health.json")
    event.update(httpMethod=method, path=path, resource=path, pathParameters=path_parameters)
    # API Gateway's own view: the path as the client sent it, after the stage.
    event["requestContext"].update(httpMethod=method, path=f"/{event['requestContext']['stage']}{path}", resourcePath=path)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return as_caller(event, caller)


def multipart_event(
    template: str,
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, bytes]],
    caller: dict[str, str] | None = ADMIN,
) -> dict[str, Any]:
    """The template event with a multipart body of form ``fields`` and ``(field, filename, bytes)`` files."""
    parts: list[tuple[str, Any]] = list(fields)
    parts += [(field, (filename, content, "image/jpeg")) for field, filename, content in files]
    body, content_type = encode_multipart_formdata(parts)
    return as_caller(with_body(load_event(template), body, content_type), caller)


def json_event(template: str, payload: dict[str, Any], caller: dict[str, str] | None = ADMIN) -> dict[str, Any]:
    event = as_caller(load_event(template), caller)
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


# An authorizer's answer that lets the caller through on every route (gateway tests' stand-in).
ALLOW_ALL_POLICY = {
    "principalId": "admin",
    "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "*", "Action": "execute-api:Invoke"}]},
}
