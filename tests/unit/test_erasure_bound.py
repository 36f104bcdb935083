"""The erasure bound's numbers (docs/erasure.md) hold in the template and the code."""

from __future__ import annotations

from facematch.idempotency import ANSWER_SECONDS, UPLOAD_CLAIM_SECONDS
from facematch.manifest import RETIREMENT_SECONDS
from facematch.uploads import UPLOAD_RECORD_SECONDS
from facematch_local.resources import load_template

DAY = 24 * 3600


def resources() -> dict:
    return load_template()["Resources"]


def test_the_sweeper_runs_every_hour_on_the_embedding_function():
    events = resources()["ApiFunction"]["Properties"]["Events"]
    schedules = [e["Properties"] for e in events.values() if e["Type"] == "Schedule"]
    assert schedules == [{"Schedule": "rate(1 hour)", "Input": '{"facematch": "sweep"}'}]


def test_every_function_keeps_its_logs_30_days_at_most():
    functions = {name for name, r in resources().items() if r["Type"] == "AWS::Serverless::Function"}
    groups = [r["Properties"] for r in resources().values() if r["Type"] == "AWS::Logs::LogGroup"]
    function_groups = {
        group["LogGroupName"]["Sub"].removeprefix("/aws/lambda/${").rstrip("}")
        for group in groups
        if group["LogGroupName"]["Sub"].startswith("/aws/lambda/")
    }
    # Every log group: the functions' and AWS WAF's (which names no key and no query string).
    assert function_groups == functions and all(group["RetentionInDays"] <= 30 for group in groups)


def test_backups_keep_nothing_longer_than_the_35_days_the_readme_states():
    bucket_rules = resources()["FaceMatchBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert max(rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in bucket_rules) <= 30
    assert resources()["FaceMatchTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "expiration"


def test_records_naming_no_face_expire_within_7_days_and_retirement_outlasts_any_reader():
    assert max(UPLOAD_RECORD_SECONDS, UPLOAD_CLAIM_SECONDS, ANSWER_SECONDS) <= 7 * DAY
    default = load_template()["Globals"]["Function"]["Timeout"]
    # The report function reads for up to 15 minutes, but only shards its report leases (a lease
    # keeps a shard past its retirement: tests/integration/test_duplicate_reports.py).
    timeouts = [
        r["Properties"].get("Timeout", default) for name, r in resources().items()
        if r["Type"] == "AWS::Serverless::Function" and name != "ReportFunction"
    ]
    assert RETIREMENT_SECONDS >= 10 * max(timeouts)
