"""Generate openapi.json from both functions' Powertools routes and models.

    python -m facematch_local.openapi            write openapi.json
    python -m facematch_local.openapi --check    exit 1 if openapi.json is out of date

On top of what Powertools generates: the tags (facematch.http.TAGS) with their descriptions, the
form bodies renamed from Powertools' Body_<operationId> (FORM_BODIES) with an example each, and
no schema that no operation uses. Every 2xx response shows an example of its model (the models'
``examples``, facematch.http.documented); tests/unit/test_openapi_reference.py validates each.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Tag

from facematch import __version__
from facematch.access import API_KEY_HEADER
from facematch.http import PUBLIC_ROUTES, TAGS
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

# Powertools names a route's form body ``Body_<operationId>``; the reference names each one, and
# gives it an example (the photos' parts are files: in JSON, base64 strings).
_PHOTO = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U"


@dataclass(frozen=True)
class FormBody:
    name: str
    description: str
    example: dict[str, Any]


FORM_BODIES = {
    "enrollPhotos": FormBody(
        "EnrollmentForm",
        "The photos to enroll and how: multipart/form-data with one images part per photo (or the same "
        "fields in application/json, the photos as base64 strings).",
        {"images": [_PHOTO, _PHOTO], "organization": "acme", "external_id": "employee-42",
         "quality_filter": "auto", "on_duplicate": "skip"},
    ),
    "compareFace": FormBody(
        "CompareForm",
        "The photo to search the organization for, and how: multipart/form-data (or the same fields in "
        "application/json, the photo as a base64 string).",
        {"image": _PHOTO, "organization": "acme", "top_k": 3, "match_rule": "significance",
         "max_expected_false_matches": 0.01},
    ),
    "presignUpload": FormBody(
        "UploadRequest",
        "The photo to upload (its name, type and exact size) and the enrollment's options, signed into "
        "the URL.",
        {"filename": "big.jpg", "content_type": "image/jpeg", "size": 5242880, "organization": "acme",
         "external_id": "employee-42", "quality_filter": "auto"},
    ),
}


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
            tags=[Tag(name=name, description=text) for name, text in TAGS.items()],
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
    _name_form_bodies(document)
    _drop_unreferenced_schemas(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    # The reference's order: what it is, its tags, then the operations and their schemas.
    order = ("openapi", "info", "servers", "tags", "security", "paths", "components")
    return {key: document[key] for key in (*order, *(key for key in document if key not in order))}


def _name_form_bodies(document: dict[str, Any]) -> None:
    """Rename each form body Powertools generated (``Body_<operationId>``) after FORM_BODIES, every
    ``$ref`` to it with it, and give it its description and example. A form body FORM_BODIES does
    not name is an error: the reference has no generated names."""
    schemas = document["components"]["schemas"]
    renamed: dict[str, str] = {}
    for generated in [name for name in schemas if name.startswith("Body_")]:
        body = FORM_BODIES.get(generated.removeprefix("Body_"))
        if body is None:
            raise ValueError(f"{generated}: name the form body of operation {generated[5:]} in FORM_BODIES")
        if body.name in schemas:
            raise ValueError(f"{generated}: {body.name} is already a schema")
        schema = schemas.pop(generated)
        schemas[body.name] = {**schema, "title": body.name, "description": body.description,
                              "examples": [body.example]}
        renamed[f"#/components/schemas/{generated}"] = f"#/components/schemas/{body.name}"
    document["paths"] = _replace_refs(document["paths"], renamed)
    document["components"] = _replace_refs(document["components"], renamed)


def _replace_refs(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: renamed.get(item, item) if key == "$ref" and isinstance(item, str)
            else _replace_refs(item, renamed)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_replace_refs(item, renamed) for item in value]
    return value


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """Powertools adds schemas no route uses (ResponseValidationError, once its 422 is dropped)."""
    schemas = document["components"]["schemas"]
    used: set[str] = set()
    pending = [document["paths"]]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.removeprefix("#/components/schemas/")
                if name not in used and name in schemas:
                    used.add(name)
                    pending.append(schemas[name])
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    for name in set(schemas) - used:
        del schemas[name]


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
