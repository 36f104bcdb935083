"""A function is always stopped before API Gateway gives up on it, and the queue waits for it."""

from __future__ import annotations

from facematch_local.resources import load_template

API_GATEWAY_INTEGRATION_TIMEOUT_S = 29


def function_timeouts() -> dict[str, int]:
    template = load_template()
    default = template["Globals"]["Function"]["Timeout"]
    return {
        name: resource["Properties"].get("Timeout", default)
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_function_stops_before_api_gateway_answers_504_so_no_write_lands_unanswered():
    timeouts = function_timeouts()
    assert timeouts and all(timeout < API_GATEWAY_INTEGRATION_TIMEOUT_S for timeout in timeouts.values()), timeouts


def test_an_upload_message_stays_invisible_for_six_function_timeouts():
    queue = load_template()["Resources"]["UploadQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * function_timeouts()["ApiFunction"]
