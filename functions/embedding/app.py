"""Embedding function: enrolls photos sent to the API or dropped into the bucket under uploads/,
and runs the long jobs (purges) sent to the job queue."""

from typing import Annotated, Literal

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import File, Form, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.errors import (
    ApiKeyNotFound,
    EmbeddingNotFound,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ImageTooLarge,
    InvalidImage,
    InvalidPageToken,
    JobNotFound,
    NoFaceDetected,
    NothingEnrolled,
    OrganizationPurging,
    PurgedDuringWrite,
    RouteNotFound,
    StoreConflict,
    UnsupportedImageFormat,
    UnsupportedMediaType,
)
from facematch.events import is_job_event, is_queue_event, is_scheduled_sweep, uploads_in
from facematch.http import (
    Caller,
    IdempotencyKeyField,
    IdempotencyKeyHeader,
    ImageField,
    OrganizationField,
    OrganizationPath,
    OrganizationQuery,
    api_base_url,
    create_resolver,
    documented,
    image_inputs,
    json_response,
    logger,
    one_idempotency_key,
)
from facematch.inputs import EXTERNAL_ID_PATTERN, MAX_FILENAME_LENGTH, S3Upload
from facematch.jobs import JOB_ID_PATTERN
from facematch.key_store import KEY_ID_PATTERN
from facematch.models import (
    ApiKey,
    Deletion,
    EmbeddingPage,
    EnrollmentResult,
    Health,
    Job,
    PresignedUpload,
    Purge,
    RevokedKey,
    StoredEmbedding,
    UploadList,
    UploadOutcome,
    dump,
)
from facematch.openapi import document
from facematch.wiring import FaceMatch

# Never into traces: responses hold API keys, vectors and matches, and X-Ray keeps them 30 days,
# readable account-wide, beyond any purge (template.yaml turns capture off too).
tracer = Tracer()
metrics = Metrics()
app = create_resolver()
service = FaceMatch.from_settings()
# All-failed batches are reported item by item too, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@app.get("/api/health", responses=documented(Health, public=True))
def health() -> Health:
    return service.health()


@app.post(
    "/api/embeddings",
    responses=documented(
        EnrollmentResult,
        UnsupportedMediaType,
        InvalidImage,
        ImageTooLarge,
        UnsupportedImageFormat,
        NoFaceDetected,
        NothingEnrolled,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        OrganizationPurging,
        PurgedDuringWrite,
        StoreConflict,
        status=201,
    ),
)
def enroll(
    caller: Caller,
    images: Annotated[list[ImageField], File(description="Photos: files, or base64 strings in JSON")],
    organization: OrganizationField = None,
    include_embedding: Annotated[bool, Form()] = False,
    external_id: Annotated[str | None, Form(pattern=EXTERNAL_ID_PATTERN)] = None,
    idempotency_key_header: IdempotencyKeyHeader = None,
    idempotency_key: IdempotencyKeyField = None,
):
    key = one_idempotency_key(idempotency_key_header, idempotency_key)
    if key is None:
        result = service.enrollment.enroll(
            caller.organization_for(organization),
            image_inputs(images),
            include_embedding=include_embedding,
            external_id=external_id,
        )
        metrics.add_metric(name="FacesEnrolled", unit="Count", value=len(result.embeddings))
        return json_response(201, dump(result))
    answer = service.enrollment.enroll_once(
        caller.organization_for(organization),
        image_inputs(images),
        key=key,
        include_embedding=include_embedding,
        external_id=external_id,
    )
    if not answer.replayed:
        metrics.add_metric(name="FacesEnrolled", unit="Count", value=len(answer.body["embeddings"]))
    return json_response(answer.status, answer.body, {"Idempotent-Replayed": "true"} if answer.replayed else None)


@app.get("/api/embeddings", responses=documented(EmbeddingPage, InvalidPageToken, OrganizationPurging))
def list_embeddings(
    caller: Caller,
    organization: OrganizationQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: Annotated[str | None, Query(max_length=4096)] = None,
    external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN)] = None,
) -> EmbeddingPage:
    return service.holdings.list_embeddings(
        caller.organization_for(organization),
        limit=limit,
        next_token=next_token,
        external_id=external_id,
    )


@app.get(
    "/api/embeddings/<embed_id>",
    responses=documented(StoredEmbedding, EmbeddingNotFound, RouteNotFound, OrganizationPurging),
)
def get_embedding(
    caller: Caller, embed_id: Annotated[int, Path(ge=1)], organization: OrganizationQuery = None
) -> StoredEmbedding:
    return service.holdings.get_embedding(caller.organization_for(organization), embed_id)


@app.delete(
    "/api/embeddings/<embed_id>",
    responses=documented(Deletion, EmbeddingNotFound, RouteNotFound, OrganizationPurging, StoreConflict),
)
def delete_embedding(
    caller: Caller, embed_id: Annotated[int, Path(ge=1)], organization: OrganizationQuery = None
) -> Deletion:
    return service.holdings.delete_embedding(caller.organization_for(organization), embed_id)


@app.delete("/api/embeddings", responses=documented(Deletion, EmbeddingNotFound, OrganizationPurging, StoreConflict))
def delete_person(
    caller: Caller,
    external_id: Annotated[str, Query(pattern=EXTERNAL_ID_PATTERN)],
    organization: OrganizationQuery = None,
) -> Deletion:
    return service.holdings.delete_person(caller.organization_for(organization), external_id)


@app.delete(
    "/api/organizations/<organization>",
    responses=documented(
        Purge, RouteNotFound, StoreConflict,
        accepted="The purge goes on as a job: status_url (and Location) tells when it is done.",
    ),
)
def purge_organization(caller: Caller, organization: OrganizationPath):
    purge = service.holdings.purge_organization(
        caller.organization_for(organization),
        time_left=app.lambda_context.get_remaining_time_in_millis() / 1000,
        api_base=api_base_url(app.current_event),
    )
    if purge.job_id is None:
        return json_response(200, dump(purge))
    return json_response(202, dump(purge), {"Location": purge.status_url})


@app.post(
    "/api/sweeps",
    description=(
        "Admin only. Start a sweep of every organization now, as the hourly schedule does: it "
        "deletes what failures left behind and what expired (docs/erasure.md)."
    ),
    responses=documented(Job, status=202),
)
def start_sweep(caller: Caller):
    caller.require_admin()
    job = service.long_jobs.start_sweep(api_base_url(app.current_event))
    return json_response(202, dump(job), {"Location": job.status_url})


@app.get(
    "/api/jobs/<job_id>",
    description=(
        "A long job's status: its organization, state, times and counts, and for a purge what "
        "backups still hold, until when. No API key: the unguessable job id (192 random bits) is "
        "the capability, as in a presigned URL, since a purge revokes the organization's keys."
    ),
    responses=documented(Job, JobNotFound, RouteNotFound, public=True),
)
def job_status(job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The id a 202 answered")]) -> Job:
    return service.long_jobs.status(job_id, api_base_url(app.current_event))


@app.post(
    "/api/organizations/<organization>/keys", responses=documented(ApiKey, RouteNotFound, status=201)
)
def create_key(caller: Caller, organization: OrganizationPath):
    caller.require_admin()
    return json_response(201, dump(service.keys.create(organization)))


@app.delete(
    "/api/organizations/<organization>/keys/<key_id>",
    responses=documented(RevokedKey, ApiKeyNotFound, RouteNotFound),
)
def revoke_key(
    caller: Caller, organization: OrganizationPath, key_id: Annotated[str, Path(pattern=KEY_ID_PATTERN)]
) -> RevokedKey:
    caller.require_admin()
    return service.keys.revoke(organization, key_id)


@app.get("/api/openapi.json")
def openapi(caller: Caller) -> dict:
    """This API's OpenAPI 3 document."""
    return document()


@app.post(
    "/api/uploads",
    responses=documented(PresignedUpload, UnsupportedImageFormat, ImageTooLarge, status=201),
)
def presign_upload(
    caller: Caller,
    filename: Annotated[str, Form(min_length=1, max_length=MAX_FILENAME_LENGTH)],
    content_type: Annotated[Literal["image/jpeg", "image/png", "image/webp"], Form()],
    size: Annotated[int, Form(ge=1, description="The photo's exact size in bytes")],
    organization: OrganizationField = None,
    external_id: Annotated[str | None, Form(pattern=EXTERNAL_ID_PATTERN)] = None,
):
    upload = service.uploads.presign(
        caller.organization_for(organization),
        filename=filename,
        content_type=content_type,
        size=size,
        external_id=external_id,
    )
    return json_response(201, dump(upload))


@app.get("/api/uploads", responses=documented(UploadList))
def uploads(
    caller: Caller,
    organization: OrganizationQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UploadList:
    return service.uploads.recent(caller.organization_for(organization), limit)


@tracer.capture_method(capture_response=False, capture_error=False)
def enroll_upload(upload: S3Upload) -> UploadOutcome:
    outcome = service.uploads.enroll(upload)
    metrics.add_metric(name=f"Uploads{outcome.status.title()}", unit="Count", value=1)
    return outcome


def enroll_uploads(record: SQSRecord) -> None:
    for upload in uploads_in(record):
        enroll_upload(upload)


def run_job(record: SQSRecord, lambda_context: LambdaContext) -> None:
    service.long_jobs.run(record.body, lambda_context.get_remaining_time_in_millis() / 1000)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if is_scheduled_sweep(event):  # template.yaml's hourly schedule
        service.long_jobs.start_sweep()
        return {}
    if is_job_event(event, service.settings.job_queue_url):
        return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)
    if is_queue_event(event):
        return process_partial_response(
            event=event, record_handler=enroll_uploads, processor=processor, context=context
        )
    return app.resolve(event, context)
