"""Embedding function: enrolls photos sent to the API or dropped into the bucket under uploads/."""

from typing import Annotated

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import File, Form, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.errors import (
    EmbeddingNotFound,
    NothingEnrolled,
    StoreConflict,
    UnsupportedMediaType,
)
from facematch.http import (
    ImageField,
    create_resolver,
    documented,
    image_inputs,
    json_response,
    logger,
)
from facematch.models import (
    EXTERNAL_ID_PATTERN,
    ORGANIZATION_PATTERN,
    Deletion,
    EmbeddingPage,
    EnrollmentResult,
    Health,
    Purge,
    StoredEmbedding,
    UploadList,
    UploadOutcome,
    dump,
)
from facematch.openapi import document
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


@app.get("/api/health", responses=documented(Health))
def health() -> Health:
    return service.health()


@app.post(
    "/api/embeddings",
    responses=documented(
        EnrollmentResult, UnsupportedMediaType, NothingEnrolled, StoreConflict, status=201
    ),
)
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


@app.get("/api/embeddings", responses=documented(EmbeddingPage))
def list_embeddings(
    organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: Annotated[str | None, Query(max_length=4096)] = None,
    external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN)] = None,
) -> EmbeddingPage:
    return service.list_embeddings(
        organization, limit=limit, next_token=next_token, external_id=external_id
    )


@app.get("/api/embeddings/<embed_id>", responses=documented(StoredEmbedding, EmbeddingNotFound))
def get_embedding(
    embed_id: Annotated[int, Path(ge=1)],
    organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
) -> StoredEmbedding:
    return service.get_embedding(organization, embed_id)


@app.delete(
    "/api/embeddings/<embed_id>", responses=documented(Deletion, EmbeddingNotFound, StoreConflict)
)
def delete_embedding(
    embed_id: Annotated[int, Path(ge=1)],
    organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
) -> Deletion:
    return service.delete_embedding(organization, embed_id)


@app.delete("/api/embeddings", responses=documented(Deletion, EmbeddingNotFound, StoreConflict))
def delete_person(
    organization: Annotated[str, Query(pattern=ORGANIZATION_PATTERN)],
    external_id: Annotated[str, Query(pattern=EXTERNAL_ID_PATTERN)],
) -> Deletion:
    return service.delete_person(organization, external_id)


@app.delete("/api/organizations/<organization>", responses=documented(Purge))
def purge_organization(organization: Annotated[str, Path(pattern=ORGANIZATION_PATTERN)]) -> Purge:
    return service.purge_organization(organization)


@app.get("/api/openapi.json")
def openapi() -> dict:
    """This API's OpenAPI 3 document."""
    return document()


@app.get("/api/uploads", responses=documented(UploadList))
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
