"""The API's OpenAPI document, as committed in openapi.json and served at GET /api/openapi.json.

It is generated from both functions' Powertools routes and models by
``python -m facematch_local.openapi`` (``make openapi``); a test keeps the committed copy equal
to what the code generates.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from facematch.config import get_settings


@functools.cache
def document() -> dict[str, Any]:
    path = get_settings().openapi_file
    if path is None:
        raise RuntimeError("FACEMATCH_OPENAPI_FILE is not set: it names the OpenAPI document to serve")
    return json.loads(path.read_text())
