"""Photos uploaded straight to the bucket: a URL to PUT one, and what became of recent ones."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Form, Query

from facematch.errors import ImageTooLarge, InvalidPageToken, UnsupportedImageFormat
from facematch.http import (
    Caller,
    NextToken,
    OnDuplicateField,
    OrganizationField,
    OrganizationQuery,
    PageLimit,
    QualityFilterField,
    documented,
    json_response,
)
from facematch.inputs import EXTERNAL_ID_PATTERN, MAX_FILENAME_LENGTH
from facematch.models import PresignedUpload, UploadList, UploadStatus, dump
from facematch.wiring import FaceMatch

TAGS = ["uploads"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/uploads",
        summary="Get a URL to upload a large photo",
        operation_id="presignUpload",
        description=(
            "PUT the photo to the URL with the headers given; it is enrolled once it lands, with "
            "the options given here (signed into the URL as x-amz-meta-* headers)."
        ),
        tags=TAGS,
        responses=documented(PresignedUpload, UnsupportedImageFormat, ImageTooLarge, status=201),
    )
    def presign_upload(
        caller: Caller,
        filename: Annotated[str, Form(min_length=1, max_length=MAX_FILENAME_LENGTH)],
        content_type: Annotated[Literal["image/jpeg", "image/png", "image/webp"], Form()],
        size: Annotated[int, Form(ge=1, description="The photo's exact size in bytes")],
        organization: OrganizationField = None,
        external_id: Annotated[str | None, Form(pattern=EXTERNAL_ID_PATTERN)] = None,
        quality_filter: QualityFilterField = "none",
        on_duplicate: OnDuplicateField = "allow",
    ):
        upload = service.uploads.presign(
            caller.organization_for(organization),
            filename=filename,
            content_type=content_type,
            size=size,
            external_id=external_id,
            quality_filter=quality_filter,
            on_duplicate=on_duplicate,
        )
        return json_response(201, dump(upload))

    @router.get(
        "/api/uploads",
        summary="List recent uploads",
        operation_id="listUploads",
        description=(
            "The outcomes of the week's uploads, newest first, a page at a time (follow next_token "
            "until there is none: a page may hold fewer than limit while more follow); status "
            "keeps one kind of outcome."
        ),
        tags=TAGS,
        responses=documented(UploadList, InvalidPageToken),
    )
    def uploads(
        caller: Caller,
        organization: OrganizationQuery = None,
        limit: PageLimit = 50,
        next_token: NextToken = None,
        status: Annotated[UploadStatus | None, Query(description="enrolled, skipped or failed")] = None,
    ) -> UploadList:
        return service.uploads.recent(
            caller.organization_for(organization), limit, next_token=next_token, status=status
        )

    return router
