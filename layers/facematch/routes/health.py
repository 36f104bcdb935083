"""What the service is: its health, and this API's OpenAPI document."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from facematch.http import Caller, documented
from facematch.models import Health
from facematch.openapi import document
from facematch.wiring import FaceMatch

TAGS = ["Service"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.get(
        "/api/health", summary="Health", description="The model and detector this deployment serves.",
        tags=TAGS, responses=documented(Health, public=True),
    )
    def health() -> Health:
        return service.health()

    @router.get("/api/openapi.json", summary="OpenAPI document", description="This API's OpenAPI 3 document.", tags=TAGS)
    def openapi(caller: Caller) -> dict:
        return document()

    return router
