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


def behind_the_api() -> set[str]:
    """The functions API Gateway calls: an Api event, or the authorizer of the API."""
    resources = load_template()["Resources"]
    return {
        name for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and (any(event["Type"] == "Api" for event in resource["Properties"].get("Events", {}).values()) or name == "AuthorizerFunction")
    }


def test_every_function_behind_the_api_stops_before_api_gateway_answers_504_so_no_write_lands_unanswered():
    timeouts = {name: timeout for name, timeout in function_timeouts().items() if name in behind_the_api()}
    assert set(timeouts) == {"ApiFunction", "MatchingFunction", "AuthorizerFunction"}
    assert all(timeout < API_GATEWAY_INTEGRATION_TIMEOUT_S for timeout in timeouts.values()), timeouts


def test_the_report_queue_waits_six_report_function_timeouts_before_a_task_comes_back():
    queue = load_template()["Resources"]["ReportQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * function_timeouts()["ReportFunction"]


def test_an_upload_message_stays_invisible_for_six_function_timeouts():
    queue = load_template()["Resources"]["UploadQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * function_timeouts()["ApiFunction"]
