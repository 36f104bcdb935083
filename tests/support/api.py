"""Invoke a handler module with an event and read its response the way API Gateway would."""

from __future__ import annotations

import base64
import json
from typing import Any


def invoke(handler_module, event: dict[str, Any], context) -> tuple[int, dict[str, Any]]:
    response = handler_module.lambda_handler(event, context)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], json.loads(body)
