"""What the service is: its health, and this API's OpenAPI document."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from facematch.http import Caller, documented
from facematch.models import Health, OpenAPIDocument
from facematch.openapi import document
from facematch.wiring import FaceMatch

TAGS = ["service"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.get(
        "/api/health",
        summary="Check the service's health",
        description="Public. Whether the service answers, the version of this API, and the face model and "
        "detector this deployment serves (embeddings of another model are not compared).",
        operation_id="getHealth",
        tags=TAGS,
        responses=documented(Health, public=True),
    )
    def health() -> Health:
        return service.health()

    @router.get(
        "/api/openapi.json",
        summary="Get this OpenAPI document",
        description="This API's OpenAPI 3.1 document, as committed in openapi.json: every route, its "
        "parameters, bodies, answers and errors, with examples.",
        operation_id="getOpenApiDocument",
        tags=TAGS,
        responses=documented(OpenAPIDocument),
    )
    def openapi(caller: Caller) -> dict:
        return document()

    return router
