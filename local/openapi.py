"""Generate openapi.json from both functions' Powertools routes and models.

    python -m facematch_local.openapi            write openapi.json
    python -m facematch_local.openapi --check    exit 1 if openapi.json is out of date
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from facematch import __version__
from facematch.access import API_KEY_HEADER
from facematch.http import PUBLIC_ROUTES
from facematch_local.functions import InProcessFunctions
from facematch_local.project import OPENAPI_FILE

TITLE = "FaceMatch"
DESCRIPTION = (
    "Enroll faces into an organization and find who a photo shows. Bodies are "
    "multipart/form-data (files) or application/json (images as base64 strings). Every route "
    "but /api/health and /api/jobs/{job_id} needs an x-api-key: an organization's key acts on "
    "that organization only. A job's status is read with its unguessable id alone (a capability "
    "URL, like a presigned URL): a purge revokes the keys of the organization that asked for it."
)


def generate(functions: InProcessFunctions | None = None) -> dict[str, Any]:
    """One document for the whole API: each function's resolver documents its own routes."""
    functions = functions or InProcessFunctions()
    document: dict[str, Any] = {}
    for name in sorted(functions.specs):
        module = functions.module(name)
        if not hasattr(module, "app"):
            continue  # the authorizer serves no routes
        schema = module.app.get_openapi_schema(
            title=TITLE,
            version=__version__,
            description=DESCRIPTION,
            security_schemes={"ApiKey": APIKey(name=API_KEY_HEADER, in_=APIKeyIn.header)},
            security=[{"ApiKey": []}],
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        if not document:
            document = schema
            continue
        document["paths"].update(schema.get("paths", {}))
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            schema.get("components", {}).get("schemas", {})
        )
    for method, path in PUBLIC_ROUTES:
        document["paths"][path][method.lower()]["security"] = []
    _drop_powertools_validation_responses(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def _drop_powertools_validation_responses(document: dict[str, Any]) -> None:
    """Powertools documents a 422 HTTPValidationError on every validated route; FaceMatch answers
    invalid requests with a 400 ErrorResponse instead (documented on each route)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            response = operation["responses"].get("422", {})
            if "HTTPValidationError" in json.dumps(response):
                del operation["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        document["components"]["schemas"].pop(name, None)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main() -> None:
    path = OPENAPI_FILE
    expected = render(generate())
    if "--check" in sys.argv[1:]:
        if not path.exists() or path.read_text() != expected:
            sys.exit(f"{path} is out of date: run make openapi")
        return
    path.write_text(expected)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
