"""Embedding function: enrolls photos sent to the API or dropped into the bucket under uploads/."""

from typing import Annotated

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import File, Form, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.http import ImageField, create_resolver, image_inputs, json_response, logger
from facematch.models import (
    EXTERNAL_ID_PATTERN,
    ORGANIZATION_PATTERN,
    Health,
    UploadList,
    UploadOutcome,
    dump,
)
from facematch.queue import is_queue_event, upload_idempotency, uploads_in
from facematch.service import FaceMatchService
from facematch.uploads import S3Upload

tracer = Tracer()
metrics = Metrics()
app = create_resolver()
service = FaceMatchService.from_settings()
# All-failed batches are reported item by item too, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
idempotency_config, idempotency_store = upload_idempotency(service.settings.table)


@app.get("/api/health")
def health() -> Health:
    return service.health()


@app.post("/api/embeddings")
@tracer.capture_method
def enroll(
    organization: Annotated[str, Form(pattern=ORGANIZATION_PATTERN)],
    images: Annotated[list[ImageField], File(description="Photos: files, or base64 strings in JSON")],
    include_embedding: Annotated[bool, Form()] = False,
    external_id: Annotated[str | None, Form(pattern=EXTERNAL_ID_PATTERN)] = None,
):
    result = service.enroll(
        organization, image_inputs(images), include_embedding=include_embedding, external_id=external_id
    )
    metrics.add_metric(name="FacesEnrolled", unit="Count", value=len(result.embeddings))
    return json_response(201, dump(result))


@app.get("/api/uploads")
def uploads(
    organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UploadList:
    return service.recent_uploads(organization, limit)


@idempotent_function(
    data_keyword_argument="upload",
    config=idempotency_config,
    persistence_store=idempotency_store,
    output_serializer=PydanticSerializer(UploadOutcome),
)
@tracer.capture_method
def enroll_upload(upload: S3Upload) -> UploadOutcome:
    outcome = service.enroll_upload(upload)
    metrics.add_metric(name=f"Uploads{outcome.status.title()}", unit="Count", value=1)
    return outcome


def enroll_uploads(record: SQSRecord) -> None:
    for upload in uploads_in(record):
        enroll_upload(upload=upload)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if is_queue_event(event):
        idempotency_config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=enroll_uploads, processor=processor, context=context
        )
    return app.resolve(event, context)
