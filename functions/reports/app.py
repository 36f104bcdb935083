"""Report worker function: the duplicate reports' job steps and tasks, from the report queue
(docs/duplicate-reports.md). Numpy only: no face model is loaded."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.report_wiring import ReportWorker

logger = Logger()
tracer = Tracer()
metrics = Metrics()
worker = ReportWorker.from_settings()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle(record: SQSRecord, lambda_context: LambdaContext) -> None:
    worker.work.handle(record.body, lambda_context.get_remaining_time_in_millis() / 1000)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
