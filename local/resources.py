"""Creates the bucket, table and queues as template.yaml declares them, for moto and the local stack.

Reading the definitions from the template keeps local runs and the cloud from drifting apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from facematch.aws import client
from facematch.config import default_audit_table
from facematch_local.project import TEMPLATE

_TABLE_PROPERTIES = ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {tag_suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag_suffix: loader.construct_sequence(node, deep=True)}
    return {tag_suffix: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


def resolved(template: dict[str, Any], value: Any) -> Any:
    """A property's value as a stack deployed with default parameters holds it: ``!Ref`` to a
    parameter reads its default, ``!FindInMap`` reads the template's mapping (its keys resolved
    the same way); anything else is returned as written."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (function, argument), = value.items()
    if function in ("Ref", "Fn::Ref") and argument in template.get("Parameters", {}):
        return template["Parameters"][argument]["Default"]
    if function in ("FindInMap", "Fn::FindInMap"):
        mapping, key, attribute = (str(resolved(template, part)) for part in argument)
        return template["Mappings"][mapping][key][attribute]
    return value


def table_definition(template: dict[str, Any], logical_id: str = "FaceMatchTable") -> dict[str, Any]:
    properties = template["Resources"][logical_id]["Properties"]
    return {name: properties[name] for name in _TABLE_PROPERTIES if name in properties}


def create_resources(
    bucket: str, table: str, template: dict[str, Any] | None = None, audit_table: str | None = None
) -> dict[str, str]:
    """Create the bucket, tables and queues if missing; returns each queue's URL by logical id.

    The bucket's upload notification is set up as in the template, pointing at these queues.
    The audit table is ``audit_table``, or named after ``table`` as the settings name it.
    """
    template = template or load_template()
    resources = template["Resources"]
    s3 = client("s3")
    existing = {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    dynamodb = client("dynamodb")
    existing_tables = dynamodb.list_tables()["TableNames"]
    for name, logical_id in ((table, "FaceMatchTable"), (audit_table or default_audit_table(table), "AuditTable")):
        if name not in existing_tables:
            dynamodb.create_table(TableName=name, **table_definition(template, logical_id))
            dynamodb.get_waiter("table_exists").wait(TableName=name)
    queue_urls, queue_arns = _create_queues(bucket, template)
    notifications = resources["FaceMatchBucket"]["Properties"]["NotificationConfiguration"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arns[_get_att_resource(entry["Queue"])],
                    "Events": [entry["Event"]],
                    "Filter": {"Key": {"FilterRules": entry["Filter"]["S3Key"]["Rules"]}},
                }
                for entry in notifications["QueueConfigurations"]
            ]
        },
    )
    return queue_urls


def _create_queues(prefix: str, template: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    sqs = client("sqs")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    queues = {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: the queues that redrive into them need their ARNs.
    for name in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
        properties = queues[name].get("Properties", {})
        attributes = {
            key: str(resolved(template, properties[key]))
            for key in ("VisibilityTimeout", "MessageRetentionPeriod")
            if key in properties
        }
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": arns[_get_att_resource(policy["deadLetterTargetArn"])],
                    "maxReceiveCount": policy["maxReceiveCount"],
                }
            )
        urls[name] = sqs.create_queue(QueueName=f"{prefix}-{name}", Attributes=attributes)["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    return urls, arns


def _get_att_resource(value: dict[str, str]) -> str:
    """``!GetAtt Name.Arn`` -> ``Name``."""
    return value["GetAtt"].split(".")[0]
