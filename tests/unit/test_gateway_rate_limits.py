"""The local gateway enforces the rate limits of the template's AWS WAF web ACL as WAF does: per
x-api-key value and per source address over the window, before API Gateway (and its authorizer)
sees the request, answering the web ACL's custom 429."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from facematch_local.gateway import LocalGateway
from facematch_local.resources import load_template
from facematch_testing.events import ALLOW_ALL_POLICY


class CountingFunctions:
    """The authorizer allows every key; every function answers 200. Counts each invocation."""

    def __init__(self) -> None:
        self.invoked: list[str] = []

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.invoked.append(function)
        return ALLOW_ALL_POLICY if function == "AuthorizerFunction" else {"statusCode": 200, "body": "{}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gateway(per_key: int = 3000, per_ip: int = 6000) -> tuple[Client, CountingFunctions, Clock]:
    """The template's gateway with its rate limit parameters' defaults set to these."""
    template = load_template()
    template["Parameters"]["RateLimitPerKey"]["Default"] = per_key
    template["Parameters"]["RateLimitPerIp"]["Default"] = per_ip
    functions, clock = CountingFunctions(), Clock()
    return Client(LocalGateway(functions, template, clock=clock, rate_limits=True)), functions, clock


def get(client: Client, key: str | None = "key-a", ip: str = "192.0.2.1"):
    headers = {"x-api-key": key} if key is not None else {}
    return client.get("/api/uploads", headers=headers, environ_base={"REMOTE_ADDR": ip})


def test_the_gateway_reads_the_web_acls_two_rules_with_the_template_defaults():
    rules = LocalGateway(CountingFunctions(), rate_limits=True).rate_limits.rules
    assert [(r.name, r.header, r.limit, r.window_seconds, r.status) for r in rules] == [
        ("PerApiKey", "x-api-key", 3000, 300, 429),
        ("PerSourceIp", None, 6000, 300, 429),
    ]


def test_a_key_past_its_limit_gets_the_web_acls_429_and_reaches_no_function_not_even_the_authorizer():
    client, functions, _ = gateway(per_key=3)
    assert [get(client).status_code for _ in range(3)] == [200, 200, 200]
    invoked = len(functions.invoked)
    refused = get(client)
    assert refused.status_code == 429
    assert refused.content_type == "application/json"
    assert refused.get_json()["error"]["code"] == "RATE_LIMITED"
    waf_body = load_template()["Resources"]["FaceMatchWebAcl"]["Properties"]["CustomResponseBodies"]["RateLimited"]
    assert refused.get_json() == json.loads(waf_body["Content"])
    assert len(functions.invoked) == invoked


def test_one_keys_limit_leaves_other_keys_from_the_same_address_alone():
    client, _, _ = gateway(per_key=2)
    assert [get(client, "key-a").status_code for _ in range(3)] == [200, 200, 429]
    assert get(client, "key-b").status_code == 200


def test_an_address_past_its_limit_is_refused_whatever_the_key_and_other_addresses_are_not():
    client, _, _ = gateway(per_ip=3)
    assert [get(client, f"random-{i}").status_code for i in range(3)] == [200, 200, 200]
    assert get(client, "random-3").status_code == 429
    assert get(client, "random-4", ip="192.0.2.2").status_code == 200


def test_requests_without_a_key_count_against_their_address_only():
    client, functions, _ = gateway(per_key=1, per_ip=2)
    assert [get(client, None).status_code for _ in range(2)] == [401, 401]
    assert get(client, None).status_code == 429
    assert functions.invoked == []


def test_blocked_requests_count_and_the_limit_lifts_once_the_window_has_passed():
    client, _, clock = gateway(per_key=2)
    assert [get(client).status_code for _ in range(3)] == [200, 200, 429]
    clock.now += 299
    assert get(client).status_code == 429  # the blocked request counted: still 3 in the window
    clock.now += 2
    assert get(client).status_code == 200


def test_facematch_rate_limits_off_lifts_the_local_limits_for_load_and_fuzz_runs(monkeypatch):
    monkeypatch.setenv("FACEMATCH_RATE_LIMITS", "off")
    assert LocalGateway(CountingFunctions()).rate_limits.rules == []
    monkeypatch.delenv("FACEMATCH_RATE_LIMITS")
    assert len(LocalGateway(CountingFunctions()).rate_limits.rules) == 2
