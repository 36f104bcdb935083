"""The operations part of template.yaml (docs/operations.md): AWS WAF's rate limits, reserved
concurrency, alarms, the optional KMS key, upload retention and the authorizer's cache."""

from __future__ import annotations

import json
import re

import pytest

from facematch.idempotency import UPLOAD_CLAIM_SECONDS
from facematch.uploads import UPLOAD_RECORD_SECONDS
from facematch_local.resources import load_template, resolved, table_definition

DAY = 24 * 3600
TEMPLATE = load_template()
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
CONDITIONS = TEMPLATE["Conditions"]
FUNCTIONS = ("ApiFunction", "MatchingFunction", "AuthorizerFunction", "ReportFunction")
NO_VALUE = {"Ref": "AWS::NoValue"}


def properties(logical_id: str) -> dict:
    return RESOURCES[logical_id]["Properties"]


def web_acl_rule(name: str) -> dict:
    (rule,) = [r for r in properties("FaceMatchWebAcl")["Rules"] if r["Name"] == name]
    return rule


def is_set(condition: str, parameter: str) -> bool:
    """``condition`` holds exactly when ``parameter`` is not empty."""
    return CONDITIONS[condition] == {"Not": [{"Equals": [{"Ref": parameter}, ""]}]}


def allowed(parameter: str, value: str) -> bool:
    return re.fullmatch(PARAMETERS[parameter]["AllowedPattern"], value) is not None


# Rate limits (AWS WAF)


def test_the_web_acl_is_regional_and_lets_through_whatever_no_rule_blocks():
    acl = properties("FaceMatchWebAcl")
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    assert {rule["Name"] for rule in acl["Rules"]} == {"PerApiKey", "PerSourceIp"}


def test_one_rate_rule_counts_each_x_api_key_value_over_the_window():
    statement = web_acl_rule("PerApiKey")["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
    assert statement["CustomKeys"] == [
        {"Header": {"Name": "x-api-key", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    assert statement["Limit"] == {"Ref": "RateLimitPerKey"}
    assert statement["EvaluationWindowSec"] == {"Ref": "RateLimitWindowSeconds"}


def test_one_rate_rule_counts_each_source_address_over_the_window():
    statement = web_acl_rule("PerSourceIp")["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == {"Ref": "RateLimitPerIp"}
    assert statement["EvaluationWindowSec"] == {"Ref": "RateLimitWindowSeconds"}


@pytest.mark.parametrize("rule", ["PerApiKey", "PerSourceIp"])
def test_each_rate_rule_blocks_with_429_and_facematchs_rate_limited_json_error(rule):
    response = web_acl_rule(rule)["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    body = properties("FaceMatchWebAcl")["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    error = json.loads(body["Content"])
    assert set(error) == {"error"} and error["error"]["code"] == "RATE_LIMITED" and error["error"]["message"]


def test_no_rule_samples_requests_whose_headers_would_show_api_keys():
    acl = properties("FaceMatchWebAcl")
    configs = [acl["VisibilityConfig"], *(rule["VisibilityConfig"] for rule in acl["Rules"])]
    assert all(c["SampledRequestsEnabled"] is False and c["CloudWatchMetricsEnabled"] for c in configs)


def test_rate_limits_default_to_3000_per_key_and_6000_per_address_in_300_s_within_wafs_bounds():
    assert PARAMETERS["RateLimitPerKey"]["Default"] == 3000  # 10 a second
    assert PARAMETERS["RateLimitPerIp"]["Default"] == 6000
    assert PARAMETERS["RateLimitWindowSeconds"]["Default"] == 300
    assert PARAMETERS["RateLimitWindowSeconds"]["AllowedValues"] == [60, 120, 300, 600]
    assert all(PARAMETERS[p]["MinValue"] == 10 for p in ("RateLimitPerKey", "RateLimitPerIp"))


def test_the_web_acl_guards_the_apis_stage_and_waits_for_it():
    association = properties("FaceMatchWebAclAssociation")
    assert association["WebACLArn"] == {"GetAtt": "FaceMatchWebAcl.Arn"}
    # SAM resolves FaceMatchApi.Stage to its generated stage: a reference, hence a dependency.
    assert association["ResourceArn"] == {
        "Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${FaceMatchApi}/stages/${FaceMatchApi.Stage}"
    }


def test_waf_logs_only_blocked_requests_to_an_aws_waf_logs_group_kept_30_days():
    logging = properties("FaceMatchWebAclLogging")
    assert logging["ResourceArn"] == {"GetAtt": "FaceMatchWebAcl.Arn"}
    group = properties("WafLogs")
    assert group["LogGroupName"]["Sub"].startswith("aws-waf-logs-") and group["RetentionInDays"] == 30
    (destination,) = logging["LogDestinationConfigs"]
    assert destination["Sub"].endswith(":log-group:${WafLogs}")  # no ":*", which WAF refuses
    assert logging["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [
            {"Behavior": "KEEP", "Requirement": "MEETS_ANY", "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}]}
        ],
    }


def test_waf_logs_never_hold_the_api_key_nor_the_query_string():
    assert properties("FaceMatchWebAclLogging")["RedactedFields"] == [
        {"SingleHeader": {"Name": "x-api-key"}},
        {"QueryString": {}},
    ]


def test_the_stage_keeps_the_whole_apis_ceiling_of_25_a_second_burst_50_as_parameters():
    (settings,) = properties("FaceMatchApi")["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert (PARAMETERS["ApiThrottlingRateLimit"]["Default"], PARAMETERS["ApiThrottlingBurstLimit"]["Default"]) == (25, 50)


# Reserved concurrency


@pytest.mark.parametrize(
    ("function", "parameter", "condition"),
    [
        ("ApiFunction", "ApiReservedConcurrency", "HasApiReservedConcurrency"),
        ("MatchingFunction", "MatchingReservedConcurrency", "HasMatchingReservedConcurrency"),
        ("AuthorizerFunction", "AuthorizerReservedConcurrency", "HasAuthorizerReservedConcurrency"),
    ],
)
def test_a_function_reserves_concurrency_only_when_its_parameter_is_given_none_by_default(function, parameter, condition):
    assert PARAMETERS[parameter]["Default"] == ""
    assert is_set(condition, parameter)
    assert properties(function)["ReservedConcurrentExecutions"] == {"If": [condition, {"Ref": parameter}, NO_VALUE]}
    assert allowed(parameter, "") and allowed(parameter, "0") and allowed(parameter, "50")
    assert not allowed(parameter, "-1") and not allowed(parameter, "ten")


# Alarms

ALARMS = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm(logical_id: str) -> tuple[str, str, dict[str, object]]:
    """An alarm's namespace, metric and dimensions."""
    p = properties(logical_id)
    return p["Namespace"], p["MetricName"], {d["Name"]: d["Value"] for d in p["Dimensions"]}


def test_every_alarm_notifies_the_alarm_topic_only_when_one_is_given_and_treats_missing_data_as_fine():
    assert PARAMETERS["AlarmTopicArn"]["Default"] == "" and is_set("HasAlarmTopic", "AlarmTopicArn")
    assert allowed("AlarmTopicArn", "arn:aws:sns:eu-west-1:123456789012:facematch-alarms")
    assert not allowed("AlarmTopicArn", "facematch-alarms")
    notify = {"If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}
    assert len(ALARMS) == 13
    for name in ALARMS:
        p = properties(name)
        assert (p["AlarmActions"], p["OKActions"], p["TreatMissingData"]) == (notify, notify, "notBreaching"), name
        assert "Condition" not in RESOURCES[name]  # the alarms always exist


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("UploadDeadLetterAlarm", "UploadDeadLetterQueue"),
        ("JobDeadLetterAlarm", "JobDeadLetterQueue"),
        ("ReportDeadLetterAlarm", "ReportDeadLetterQueue"),
    ],
)
def test_a_dead_letter_queue_that_is_not_empty_fires_its_alarm(name, queue):
    assert alarm(name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": {"GetAtt": f"{queue}.QueueName"}})
    p = properties(name)
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == ("Maximum", "GreaterThanThreshold", 0)


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_any_error_or_throttle_of_each_function_fires_its_alarm(function, metric):
    name = f"{function}{metric}Alarm"
    assert alarm(name) == ("AWS/Lambda", metric, {"FunctionName": {"Ref": function}})
    p = properties(name)
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"], p["Period"]) == ("Sum", "GreaterThanThreshold", 0, 300)


def test_the_apis_5xx_rate_over_its_stage_fires_an_alarm_past_1_percent():
    assert alarm("Api5xxAlarm") == (
        "AWS/ApiGateway", "5XXError", {"ApiName": {"Ref": "AWS::StackName"}, "Stage": {"Ref": "Stage"}}
    )
    p = properties("Api5xxAlarm")
    assert (p["Statistic"], p["Threshold"]) == ("Average", {"Ref": "Api5xxRateThreshold"})
    assert PARAMETERS["Api5xxRateThreshold"]["Default"] == 0.01


def test_the_apis_p99_latency_over_10_s_for_two_periods_fires_an_alarm():
    assert alarm("ApiLatencyAlarm") == (
        "AWS/ApiGateway", "Latency", {"ApiName": {"Ref": "AWS::StackName"}, "Stage": {"Ref": "Stage"}}
    )
    p = properties("ApiLatencyAlarm")
    assert (p["ExtendedStatistic"], p["Threshold"]) == ("p99", {"Ref": "ApiLatencyP99ThresholdMs"})
    assert "Statistic" not in p and (p["EvaluationPeriods"], p["DatapointsToAlarm"]) == (2, 2)
    assert PARAMETERS["ApiLatencyP99ThresholdMs"]["Default"] == 10000


def test_the_api_is_named_after_the_stack_as_its_alarms_dimension_says():
    assert properties("FaceMatchApi")["Name"] == {"Ref": "AWS::StackName"}


# Encryption (KmsKeyArn)


def test_the_kms_key_is_optional_and_must_be_a_key_arn_not_an_alias():
    assert PARAMETERS["KmsKeyArn"]["Default"] == "" and is_set("HasKmsKey", "KmsKeyArn")
    assert allowed("KmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert not allowed("KmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:alias/facematch")


def test_the_bucket_encrypts_with_the_kms_key_when_given_and_with_sse_s3_otherwise():
    (rule,) = properties("FaceMatchBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": {"If": ["HasKmsKey", "aws:kms", "AES256"]},
        "KMSMasterKeyID": {"If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, NO_VALUE]},
    }
    assert rule["BucketKeyEnabled"] is True


@pytest.mark.parametrize("table", ["FaceMatchTable", "AuditTable"])
def test_both_tables_encrypt_with_the_kms_key_when_given_and_keep_their_definition_literal(table):
    assert properties(table)["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": {"If": ["HasKmsKey", "KMS", NO_VALUE]},
        "KMSMasterKeyId": {"If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, NO_VALUE]},
    }
    # The local stack and moto create the tables from these (facematch_local.resources).
    definition = table_definition(TEMPLATE, table)
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert all(isinstance(entry["AttributeName"], str) for entry in definition["KeySchema"])


def kms_statements(function: str) -> list[dict]:
    """The function's statements on the KMS key: in a policy that exists only with HasKmsKey."""
    conditional = [p["If"] for p in properties(function)["Policies"] if isinstance(p, dict) and "If" in p]
    assert all(condition == "HasKmsKey" and otherwise == NO_VALUE for condition, _, otherwise in conditional)
    statements = [s for _, policy, _ in conditional for s in policy["Statement"]]
    unconditional = [s for p in properties(function)["Policies"] if "Statement" in p for s in p["Statement"]]
    assert not any("kms:" in str(s["Action"]) for s in unconditional), function
    assert all(s["Resource"] == {"Ref": "KmsKeyArn"} for s in statements)
    return statements


@pytest.mark.parametrize(
    ("function", "actions", "services"),
    [
        # Writes shards and manifests and signs upload URLs (S3 asks for a data key with the signer's rights).
        ("ApiFunction", ["kms:Decrypt", "kms:GenerateDataKey"], ["s3", "dynamodb"]),
        ("MatchingFunction", ["kms:Decrypt"], ["s3", "dynamodb"]),
        ("AuthorizerFunction", ["kms:Decrypt"], ["dynamodb"]),  # reads the key lookup only
    ],
)
def test_each_function_may_use_the_kms_key_only_when_given_and_only_through_its_stores(function, actions, services):
    (statement,) = kms_statements(function)
    assert sorted([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]) == actions
    via = statement["Condition"]["StringEquals"]["kms:ViaService"]
    via = [via] if isinstance(via, dict) else via
    assert via == [{"Sub": f"{service}.${{AWS::Region}}.amazonaws.com"} for service in services]


def test_the_queues_keep_sqs_managed_encryption_whatever_the_kms_key():
    queues = [name for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"]
    assert queues and all(properties(q)["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in properties(q) for q in queues)


# Uploads and dead letters


def test_uploads_and_both_upload_queues_keep_a_photo_and_its_message_the_same_upload_retention_days():
    (rule,) = [r for r in properties("FaceMatchBucket")["LifecycleConfiguration"]["Rules"] if r["Id"] == "ExpireUploads"]
    assert (rule["Prefix"], rule["ExpirationInDays"]) == ("uploads/", {"Ref": "UploadRetentionDays"})
    retention = {"FindInMap": ["UploadRetention", {"Ref": "UploadRetentionDays"}, "Seconds"]}
    assert properties("UploadQueue")["MessageRetentionPeriod"] == retention
    assert properties("UploadDeadLetterQueue")["MessageRetentionPeriod"] == retention
    mapping = TEMPLATE["Mappings"]["UploadRetention"]
    days = PARAMETERS["UploadRetentionDays"]["AllowedValues"]
    # Ref to a Number parameter is a string: the mapping's keys are the allowed values as strings.
    assert {key: value["Seconds"] for key, value in mapping.items()} == {str(d): d * DAY for d in days}


def test_uploads_live_one_day_by_default_and_never_longer_than_the_records_that_enroll_them_once():
    assert PARAMETERS["UploadRetentionDays"]["Default"] == 1
    longest = max(PARAMETERS["UploadRetentionDays"]["AllowedValues"]) * DAY
    assert longest <= min(UPLOAD_CLAIM_SECONDS, UPLOAD_RECORD_SECONDS)


def test_resolved_reads_a_mapping_under_a_parameters_default_as_the_local_stack_creates_the_queues():
    retention = properties("UploadDeadLetterQueue")["MessageRetentionPeriod"]
    assert resolved(TEMPLATE, retention) == DAY
    seven = {**TEMPLATE, "Parameters": {**PARAMETERS, "UploadRetentionDays": {"Default": 7}}}
    assert resolved(seven, retention) == 7 * DAY
    assert resolved(TEMPLATE, {"Ref": "AuthorizerCacheSeconds"}) == 60
    assert resolved(TEMPLATE, {"Ref": "FaceMatchTable"}) == {"Ref": "FaceMatchTable"}  # not a parameter
    assert resolved(TEMPLATE, 150) == 150


def test_the_job_queues_keep_their_messages_4_and_14_days():
    assert properties("JobQueue")["MessageRetentionPeriod"] == 4 * DAY
    assert properties("JobDeadLetterQueue")["MessageRetentionPeriod"] == 14 * DAY


# Key lifetime


def test_the_authorizers_answers_are_cached_authorizer_cache_seconds_60_by_default_at_most_an_hour():
    authorizer = properties("FaceMatchApi")["Auth"]["Authorizers"]["ApiKeyAuthorizer"]
    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerCacheSeconds"}
    parameter = PARAMETERS["AuthorizerCacheSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (60, 0, 3600)
