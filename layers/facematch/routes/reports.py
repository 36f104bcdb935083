"""Duplicate reports: every group of faces in an organization that are one person."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from facematch.errors import (
    InvalidPageToken,
    OrganizationNotFound,
    OrganizationPurging,
    ReportNotFound,
    ReportRunning,
    RouteNotFound,
)
from facematch.http import (
    Acting,
    Caller,
    NextToken,
    OrganizationQuery,
    api_base_url,
    documented,
    json_response,
)
from facematch.inputs import DuplicateReportRequest
from facematch.jobs import JOB_ID_PATTERN
from facematch.models import DuplicateReport, DuplicateReportAccepted, dump
from facematch.wiring import FaceMatch

TAGS = ["reports"]
ReportId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The id the 202 answered")]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/duplicate-reports",
        summary="Start a duplicate report",
        operation_id="startDuplicateReport",
        description=(
            "Find every group of the organization's faces that are one person: enrolled twice under "
            "two labels, or twice without one. Every pair of faces is compared, in parallel tasks; an "
            "edge is a significant match among all N(N-1)/2 pairs, and a group is faces that are all "
            "edges of one another (complete linkage), so a face close to two groups joins neither. "
            "One report per organization runs at a time (REPORT_RUNNING). docs/duplicate-reports.md."
        ),
        tags=TAGS,
        responses=documented(
            DuplicateReportAccepted, OrganizationNotFound, OrganizationPurging, ReportRunning, status=202
        ),
    )
    def start_report(caller: Caller, acting: Acting, request: Annotated[DuplicateReportRequest, Body()]):
        accepted = service.reports.start(
            caller.organization_for(request.organization),
            request.max_expected_false_matches,
            acting,
            api_base_url(router.current_event),
        )
        return json_response(202, dump(accepted), {"Location": accepted.status_url})

    @router.get(
        "/api/duplicate-reports/<report_id>",
        summary="Read a duplicate report",
        operation_id="readDuplicateReport",
        description=(
            "Its status and progress (tasks done of the total); once done, a page of its groups, "
            "largest first, with each member's external_id and every distance inside the group. "
            "Faces erased since the report ran are left out."
        ),
        tags=TAGS,
        responses=documented(DuplicateReport, ReportNotFound, InvalidPageToken, OrganizationPurging, RouteNotFound),
    )
    def read_report(
        caller: Caller,
        report_id: ReportId,
        organization: OrganizationQuery = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        next_token: NextToken = None,
        include_same_label: Annotated[
            bool, Query(description="Also the groups whose members all carry one label.")
        ] = False,
    ) -> DuplicateReport:
        return service.reports.status(
            caller.organization_for(organization),
            report_id,
            limit=limit,
            next_token=next_token,
            include_same_label=include_same_label,
            api_base=api_base_url(router.current_event),
        )

    @router.delete(
        "/api/duplicate-reports/<report_id>",
        summary="Cancel a duplicate report",
        operation_id="cancelDuplicateReport",
        description="Stops a report under way and deletes what it wrote; a report that ended is left as it is.",
        tags=TAGS,
        responses=documented(DuplicateReport, ReportNotFound, OrganizationPurging, RouteNotFound),
    )
    def cancel_report(
        caller: Caller, acting: Acting, report_id: ReportId, organization: OrganizationQuery = None
    ) -> DuplicateReport:
        return service.reports.cancel(
            caller.organization_for(organization), report_id, acting, api_base_url(router.current_event)
        )

    return router
