"""Every route of template.yaml answers with and without a trailing slash in the local gateway, as
on API Gateway, and nothing looser (a double slash, another route's path) reaches a function."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.test import Client

from facematch_local.gateway import LocalGateway
from facematch_local.resources import load_template
from facematch_testing.events import ALLOW_ALL_POLICY


class RecordingFunctions:
    """Each function answers 200 with the event's resource and path; the authorizer allows all."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        if function == "AuthorizerFunction":
            return ALLOW_ALL_POLICY
        self.events.append((function, event))
        return {"statusCode": 200, "body": "{}"}


def template_routes() -> list[tuple[str, str, str]]:
    """(function, method, resource) of every Api event in the template."""
    resources = load_template()["Resources"]
    return [
        (name, event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    ]


def concrete(resource: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "7" if m.group(1) == "embed_id" else f"value-of-{m.group(1)}", resource)


ROUTES = template_routes()


@pytest.mark.parametrize("slash", ["", "/"], ids=["without", "with a trailing slash"])
@pytest.mark.parametrize(("function", "method", "resource"), ROUTES, ids=[f"{m} {r}" for _, m, r in ROUTES])
def test_each_template_route_reaches_its_function_with_and_without_a_trailing_slash(function, method, resource, slash):
    functions = RecordingFunctions()
    path = concrete(resource) + slash
    response = Client(LocalGateway(functions)).open(path, method=method, headers={"x-api-key": "any"})
    assert response.status_code == 200, response.get_data(as_text=True)
    (called, event), = functions.events
    assert (called, event["resource"], event["path"]) == (function, resource, path)
    parameters = re.findall(r"\{(\w+)\}", resource)
    assert set(event["pathParameters"] or {}) == set(parameters)
    assert all("/" not in value for value in (event["pathParameters"] or {}).values())


@pytest.mark.parametrize("path", ["/api/embeddings//", "//api/embeddings", "/api/embeddings/7//", "/api/embedding"])
def test_a_path_no_route_matches_is_refused_before_any_function(path):
    functions = RecordingFunctions()
    response = Client(LocalGateway(functions)).get(path, headers={"x-api-key": "any"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "NOT_FOUND")
    assert functions.events == []
