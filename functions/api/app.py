"""API function: every route but /api/face-compare (facematch.routes), the photos dropped
into the bucket under uploads/ (S3 -> SQS), the long jobs sent to the job queue, and the hourly
schedule's sweep. Duplicate reports are started here and run in the report function."""

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.events import is_job_event, is_queue_event, is_scheduled_sweep, uploads_in
from facematch.http import create_resolver, logger
from facematch.inputs import S3Upload
from facematch.models import UploadOutcome
from facematch.routes import audit, enrollment, health, holdings, jobs, keys, reports, uploads
from facematch.wiring import FaceMatch

# Never into traces: responses hold API keys, vectors and matches, and X-Ray keeps them 30 days,
# readable account-wide, beyond any purge (template.yaml turns capture off too).
tracer = Tracer()
metrics = Metrics()
service = FaceMatch.from_settings()
app = create_resolver()
for concern in (health, enrollment, holdings, keys, uploads, jobs, reports, audit):
    app.include_router(concern.routes(service))
# All-failed batches are reported item by item too, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


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
