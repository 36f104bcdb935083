"""The local gateway caches the authorizer's answer per key for the template's AuthorizerCacheSeconds,
as API Gateway does: a revoked key keeps working at most that long."""

from __future__ import annotations

from typing import Any

from werkzeug.test import Client

from facematch_local.functions import FunctionError
from facematch_local.gateway import LocalGateway
from facematch_local.resources import load_template
from facematch_testing.events import ALLOW_ALL_POLICY


class RevocableAuthorizer:
    """Allows every key until ``revoked``; then answers Unauthorized, as for an unknown key."""

    def __init__(self) -> None:
        self.revoked = False
        self.asked = 0

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        if function != "AuthorizerFunction":
            return {"statusCode": 200, "body": "{}"}
        self.asked += 1
        if self.revoked:
            raise FunctionError("Unauthorized")
        return ALLOW_ALL_POLICY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_authorizer_cache_lasts_the_default_of_authorizer_cache_seconds_60():
    assert load_template()["Parameters"]["AuthorizerCacheSeconds"]["Default"] == 60
    assert LocalGateway(RevocableAuthorizer()).authorizer.ttl_seconds == 60


def test_a_revoked_key_works_until_its_cached_answer_is_authorizer_cache_seconds_old_then_is_a_401():
    functions, clock = RevocableAuthorizer(), Clock()
    client = Client(LocalGateway(functions, clock=clock))

    def status() -> int:
        return client.get("/api/uploads", headers={"x-api-key": "some-key"}).status_code

    assert status() == 200
    functions.revoked = True
    clock.now += 59.9
    assert status() == 200  # the cached answer
    assert functions.asked == 1
    clock.now += 0.2
    assert status() == 401
    assert functions.asked == 2


def test_an_authorizer_cache_of_zero_asks_the_authorizer_every_time():
    template = load_template()
    template["Parameters"]["AuthorizerCacheSeconds"]["Default"] = 0
    functions = RevocableAuthorizer()
    client = Client(LocalGateway(functions, template))
    for _ in range(3):
        client.get("/api/uploads", headers={"x-api-key": "some-key"})
    assert functions.asked == 3
