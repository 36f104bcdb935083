"""Embedding function: enrolls photos into an organization."""

from typing import Annotated

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import File, Form
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.http import ImageField, create_resolver, image_inputs, json_response, logger
from facematch.models import ORGANIZATION_PATTERN, EnrollmentResult, Health, dump
from facematch.service import FaceMatchService

tracer = Tracer()
metrics = Metrics()
app = create_resolver()
service = FaceMatchService.from_settings()


@app.get("/api/health")
def health() -> Health:
    return service.health()


@app.post("/api/embeddings", responses={201: {"description": "Enrolled", "content": {"application/json": {"model": EnrollmentResult}}}})
@tracer.capture_method
def enroll(
    organization: Annotated[str, Form(pattern=ORGANIZATION_PATTERN)],
    images: Annotated[list[ImageField], File(description="Photos: files, or base64 strings in JSON")],
    include_embedding: Annotated[bool, Form()] = False,
):
    result = service.enroll(organization, image_inputs(images), include_embedding=include_embedding)
    metrics.add_metric(name="FacesEnrolled", unit="Count", value=len(result.embeddings))
    return json_response(201, dump(result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
