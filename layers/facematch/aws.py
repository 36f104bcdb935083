"""boto3 clients, one per service, reused while warm.

The functions build them at init; tests reset them (``reset_clients``) once AWS is mocked.
"""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from facematch.config import get_settings

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
_SERVICE_CONFIG = {
    # botocore presigns with SigV2 in us-east-1 unless told otherwise: SigV2 signs no header (so
    # not the upload's size), and buckets created since June 2020 refuse it.
    "s3": Config(signature_version="s3v4"),
}


@functools.cache
def client(service_name: str):  # noqa: ANN201 - boto3 clients are generated types
    config = _CLIENT_CONFIG.merge(_SERVICE_CONFIG.get(service_name, Config()))
    return boto3.client(service_name, endpoint_url=get_settings().aws_endpoint, config=config)


def reset_clients() -> None:
    """Forget cached clients and settings, for tests that change the environment."""
    client.cache_clear()
    get_settings.cache_clear()
