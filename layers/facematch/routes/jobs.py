"""Long jobs: a sweep started now, and any job's status."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from facematch.errors import JobNotFound, RouteNotFound
from facematch.http import Caller, api_base_url, documented, json_response
from facematch.jobs import JOB_ID_PATTERN
from facematch.models import Job, dump
from facematch.wiring import FaceMatch

TAGS = ["holdings"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/sweeps",
        summary="Start a sweep now",
        operation_id="startSweep",
        description=(
            "Admin only. Start a sweep of every organization now, as the hourly schedule does: it "
            "deletes what failures left behind and what expired (docs/erasure.md)."
        ),
        tags=TAGS,
        responses=documented(Job, status=202, example=1),
    )
    def start_sweep(caller: Caller):
        caller.require_admin()
        job = service.long_jobs.start_sweep(api_base_url(router.current_event))
        return json_response(202, dump(job), {"Location": job.status_url})

    @router.get(
        "/api/jobs/<job_id>",
        summary="Read a job's status",
        operation_id="getJob",
        description=(
            "A long job's status: its organization, state, times and counts, and for a purge what "
            "backups still hold, until when. No API key: the unguessable job id (192 random bits) is "
            "the capability, as in a presigned URL, since a purge revokes the organization's keys."
        ),
        tags=TAGS,
        responses=documented(Job, JobNotFound, RouteNotFound, public=True),
    )
    def job_status(job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The id a 202 answered")]) -> Job:
        return service.long_jobs.status(job_id, api_base_url(router.current_event))

    return router
