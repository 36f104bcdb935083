"""Finding who in an organization a photo shows."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import File, Form

from facematch.errors import (
    ImageTooLarge,
    InvalidImage,
    NoFaceDetected,
    OrganizationNotFound,
    OrganizationPurging,
    UnsupportedImageFormat,
    UnsupportedMediaType,
)
from facematch.http import Caller, ImageField, OrganizationField, documented, image_input
from facematch.matching import MAX_TOP_K
from facematch.models import ComparisonResult
from facematch.wiring import FaceMatch

metrics = Metrics()


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/face-compare",
        summary="Find who a photo shows",
        description=(
            "The organization's enrolled faces nearest to the photo's largest face, best first; "
            "match says whether the best is within the threshold (cosine distance)."
        ),
        tags=["Matching"],
        responses=documented(
            ComparisonResult, InvalidImage, OrganizationNotFound, UnsupportedMediaType,
            ImageTooLarge, UnsupportedImageFormat, NoFaceDetected, OrganizationPurging,
        ),
    )
    def compare(
        caller: Caller,
        image: Annotated[ImageField, File(description="Photo: a file, or a base64 string in JSON")],
        organization: OrganizationField = None,
        threshold: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
        top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 1,
    ) -> ComparisonResult:
        result = service.matching.compare(
            caller.organization_for(organization), image_input(image), threshold=threshold, top_k=top_k
        )
        metrics.add_metric(name="Matches" if result.match else "NonMatches", unit="Count", value=1)
        return result

    return router
