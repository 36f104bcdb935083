"""Matching function: finds who in an organization a photo shows (/api/face-compare). It is
its own function so that matching scales, and keeps its vectors warm, apart from writes."""

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.http import create_resolver, logger
from facematch.routes import matching
from facematch.wiring import FaceMatch

# Never into traces: responses hold API keys, vectors and matches, and X-Ray keeps them 30 days,
# readable account-wide, beyond any purge (template.yaml turns capture off too).
tracer = Tracer()
metrics = Metrics()
service = FaceMatch.from_settings()
app = create_resolver()
app.include_router(matching.routes(service))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
