"""Issuing and revoking an organization's API keys (the admin key only)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from facematch.errors import ApiKeyNotFound, RouteNotFound
from facematch.http import Acting, Caller, OrganizationPath, documented, json_response
from facematch.key_store import KEY_ID_PATTERN
from facematch.models import ApiKey, RevokedKey, dump
from facematch.wiring import FaceMatch

TAGS = ["keys"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/organizations/<organization>/keys",
        summary="Issue an API key",
        operation_id="createApiKey",
        description="Admin only. The key is shown once: FaceMatch keeps its hash.",
        tags=TAGS,
        responses=documented(ApiKey, RouteNotFound, status=201),
    )
    def create_key(caller: Caller, acting: Acting, organization: OrganizationPath):
        caller.require_admin()
        return json_response(201, dump(service.keys.create(organization, acting)))

    @router.delete(
        "/api/organizations/<organization>/keys/<key_id>",
        summary="Revoke an API key",
        operation_id="revokeApiKey",
        description="Admin only. The key stops working within the authorizer's cache TTL.",
        tags=TAGS,
        responses=documented(RevokedKey, ApiKeyNotFound, RouteNotFound),
    )
    def revoke_key(
        caller: Caller,
        acting: Acting,
        organization: OrganizationPath,
        key_id: Annotated[str, Path(pattern=KEY_ID_PATTERN)],
    ) -> RevokedKey:
        caller.require_admin()
        return service.keys.revoke(organization, key_id, acting)

    return router
