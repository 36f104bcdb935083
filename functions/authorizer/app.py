"""API Gateway authorizer (REQUEST type): turns the x-api-key header into a principal."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from facematch.access import KeyChecker, authorizer_response
from facematch.aws import client
from facematch.config import get_settings
from facematch.key_store import ApiKeys

logger = Logger()
checker = KeyChecker(get_settings(), ApiKeys())
client("dynamodb")  # built at init, reused by every invocation


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict:
    return authorizer_response(checker, event)
