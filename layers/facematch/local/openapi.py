"""Generate openapi.json from both functions' Powertools routes and models.

    python -m facematch.local.openapi            write openapi.json
    python -m facematch.local.openapi --check    exit 1 if openapi.json is out of date
"""

from __future__ import annotations

import json
import sys
from typing import Any

from facematch import __version__
from facematch.config import get_settings
from facematch.local.gateway import LocalGateway

TITLE = "FaceMatch"
DESCRIPTION = (
    "Enroll faces into an organization and find who a photo shows. Bodies are "
    "multipart/form-data (files) or application/json (images as base64 strings)."
)


def generate(gateway: LocalGateway | None = None) -> dict[str, Any]:
    """One document for the whole API: each function's resolver documents its own routes."""
    gateway = gateway or LocalGateway()
    document: dict[str, Any] = {}
    for name in sorted(gateway.functions):
        schema = gateway.module(name).app.get_openapi_schema(
            title=TITLE, version=__version__, description=DESCRIPTION
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        if not document:
            document = schema
            continue
        document["paths"].update(schema.get("paths", {}))
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            schema.get("components", {}).get("schemas", {})
        )
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main() -> None:
    path = get_settings().openapi_file
    expected = render(generate())
    if "--check" in sys.argv[1:]:
        if not path.exists() or path.read_text() != expected:
            sys.exit(f"{path} is out of date: run make openapi")
        return
    path.write_text(expected)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
