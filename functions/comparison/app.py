"""Comparison function: finds who in an organization a photo shows."""

from typing import Annotated

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import File, Form
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.errors import (
    ImageTooLarge,
    InvalidImage,
    NoFaceDetected,
    OrganizationNotFound,
    OrganizationPurging,
    UnsupportedImageFormat,
    UnsupportedMediaType,
)
from facematch.http import (
    Caller,
    ImageField,
    OrganizationField,
    create_resolver,
    documented,
    image_input,
    logger,
)
from facematch.matching import MAX_TOP_K
from facematch.models import ComparisonResult
from facematch.wiring import FaceMatch

# Never into traces: responses hold API keys, vectors and matches, and X-Ray keeps them 30 days,
# readable account-wide, beyond any purge (template.yaml turns capture off too).
tracer = Tracer()
metrics = Metrics()
app = create_resolver()
service = FaceMatch.from_settings()


@app.post(
    "/api/face-compare",
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
