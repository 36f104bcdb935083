"""What the local gateway answers when a function fails, as API Gateway would: the template's
error format, with API Gateway's own status for each kind of failure."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from facematch_local.functions import FunctionError, FunctionTimedOut
from facematch_local.gateway import LocalGateway
from facematch_local.resources import load_template
from facematch_testing.events import ALLOW_ALL_POLICY


class FailingFunctions:
    """Invoking ``failing`` raises ``error``; the authorizer, unless it is the one failing, allows all."""

    def __init__(self, error: FunctionError, failing: str = "ApiFunction") -> None:
        self.error = error
        self.failing = failing
        self.invoked: list[str] = []

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.invoked.append(function)
        if function == self.failing:
            raise self.error
        assert function == "AuthorizerFunction"
        return ALLOW_ALL_POLICY


def get_uploads(functions: FailingFunctions, template: dict | None = None) -> tuple[int, str]:
    """GET /api/uploads (ApiFunction, behind the authorizer): the status and error code."""
    response = Client(LocalGateway(functions, template)).get("/api/uploads", headers={"x-api-key": "any"})
    return response.status_code, response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "message", ["ApiFunction's worker exited (signal SIGSEGV)", "division by zero"]
)
def test_a_crashed_or_failed_function_is_a_502_in_the_api_error_format(message):
    assert get_uploads(FailingFunctions(FunctionError(message))) == (502, "GATEWAY_ERROR")


def test_a_function_allowed_api_gateways_whole_29_s_that_runs_out_is_a_504():
    template = load_template()
    template["Resources"]["ApiFunction"]["Properties"]["Timeout"] = 29
    timed_out = FunctionTimedOut("ApiFunction timed out after 29 s")
    assert get_uploads(FailingFunctions(timed_out), template) == (504, "GATEWAY_ERROR")


def test_the_template_functions_run_out_before_api_gateway_and_that_is_a_502():
    timed_out = FunctionTimedOut("ApiFunction timed out after 25 s")
    assert get_uploads(FailingFunctions(timed_out)) == (502, "GATEWAY_ERROR")


def test_a_failing_authorizer_is_a_500_and_the_function_is_not_invoked():
    functions = FailingFunctions(FunctionError("boom"), failing="AuthorizerFunction")
    assert get_uploads(functions) == (500, "GATEWAY_ERROR")
    assert functions.invoked == ["AuthorizerFunction"]


def test_an_authorizer_raising_unauthorized_is_a_401():
    functions = FailingFunctions(FunctionError("Unauthorized"), failing="AuthorizerFunction")
    assert get_uploads(functions) == (401, "UNAUTHORIZED")
