"""The audit trail, read by the admin key: who created and revoked keys, deleted faces and purged."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from facematch.audit import AuditPage
from facematch.errors import Forbidden, InvalidPageToken
from facematch.http import Caller, NextToken, PageLimit, documented
from facematch.inputs import ORGANIZATION_PATTERN
from facematch.wiring import FaceMatch


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.get(
        "/api/audit",
        summary="Read the audit trail",
        operation_id="readAuditTrail",
        description=(
            "Admin only. An organization's records, newest first: key creation and revocation, "
            "deletions and purges, each with who (key id), when and what (ids; never a label). "
            "Kept AuditRetentionDays (365 by default), also after the organization is purged."
        ),
        tags=["holdings"],
        responses=documented(AuditPage, Forbidden, InvalidPageToken),
    )
    def audit(
        caller: Caller,
        organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
        limit: PageLimit = 50,
        next_token: NextToken = None,
    ) -> AuditPage:
        caller.require_admin(to="read the audit trail")
        return service.audit.page(organization, limit=limit, next_token=next_token)

    return router
