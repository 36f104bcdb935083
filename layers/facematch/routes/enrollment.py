"""Enrolling photos of people into an organization."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import File, Form

from facematch.enrollment import status_of
from facematch.errors import (
    FaceTooSmall,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ImageTooLarge,
    InvalidImage,
    LowSharpness,
    NoFaceDetected,
    NothingEnrolled,
    OrganizationFull,
    OrganizationPurging,
    PurgedDuringWrite,
    StoreConflict,
    UnsupportedImageFormat,
    UnsupportedMediaType,
)
from facematch.http import (
    Caller,
    IdempotencyKeyField,
    IdempotencyKeyHeader,
    ImageField,
    OnDuplicateField,
    OrganizationField,
    QualityFilterField,
    documented,
    image_inputs,
    json_response,
    one_idempotency_key,
)
from facematch.inputs import EXTERNAL_ID_PATTERN
from facematch.models import EnrollmentResult, dump
from facematch.wiring import FaceMatch

metrics = Metrics()


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/embeddings",
        summary="Enroll photos",
        operation_id="enrollPhotos",
        description=(
            "Embeds the largest face of each photo and stores them under the organization, all or "
            "none; photos without a usable face (or one quality_filter refuses) are listed as "
            "failed. Each stored face lists the faces already held that it significantly matches "
            "(duplicates); with on_duplicate=skip, a face with one is not stored but listed as "
            "skipped (200 when nothing was stored). With an Idempotency-Key, a retry gets the first "
            "answer and enrolls nothing new."
        ),
        tags=["enrollment"],
        responses=documented(
            EnrollmentResult,
            UnsupportedMediaType,
            InvalidImage,
            ImageTooLarge,
            UnsupportedImageFormat,
            NoFaceDetected,
            FaceTooSmall,
            LowSharpness,
            NothingEnrolled,
            IdempotencyKeyReused,
            IdempotencyKeyInProgress,
            OrganizationFull,
            OrganizationPurging,
            PurgedDuringWrite,
            StoreConflict,
            status=201,
            also={200: "Every photo was skipped as a duplicate (on_duplicate=skip): nothing was stored."},
        ),
    )
    def enroll(
        caller: Caller,
        images: Annotated[list[ImageField], File(description="Photos: files, or base64 strings in JSON")],
        organization: OrganizationField = None,
        include_embedding: Annotated[bool, Form()] = False,
        external_id: Annotated[str | None, Form(pattern=EXTERNAL_ID_PATTERN)] = None,
        quality_filter: QualityFilterField = "none",
        on_duplicate: OnDuplicateField = "allow",
        idempotency_key_header: IdempotencyKeyHeader = None,
        idempotency_key: IdempotencyKeyField = None,
    ):
        key = one_idempotency_key(idempotency_key_header, idempotency_key)
        options = {
            "include_embedding": include_embedding,
            "external_id": external_id,
            "quality_filter": quality_filter,
            "on_duplicate": on_duplicate,
        }
        if key is None:
            result = service.enrollment.enroll(caller.organization_for(organization), image_inputs(images), **options)
            _count(dump(result))
            return json_response(status_of(result), dump(result))
        answer = service.enrollment.enroll_once(
            caller.organization_for(organization), image_inputs(images), key=key, **options
        )
        if not answer.replayed:
            _count(answer.body)
        return json_response(answer.status, answer.body, {"Idempotent-Replayed": "true"} if answer.replayed else None)

    return router


def _count(body: dict) -> None:
    metrics.add_metric(name="FacesEnrolled", unit="Count", value=len(body["embeddings"]))
    metrics.add_metric(name="DuplicatesSkipped", unit="Count", value=len(body.get("skipped", [])))
