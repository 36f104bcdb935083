"""Creates the bucket and table exactly as template.yaml declares them, for moto and the local stack.

Reading the definitions from the template keeps local runs and the cloud from drifting apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from facematch.aws import client

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
_TABLE_PROPERTIES = ("KeySchema", "AttributeDefinitions", "BillingMode")


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


def table_definition(template: dict[str, Any]) -> dict[str, Any]:
    properties = template["Resources"]["FaceMatchTable"]["Properties"]
    return {name: properties[name] for name in _TABLE_PROPERTIES}


def create_resources(bucket: str, table: str, template: dict[str, Any] | None = None) -> None:
    """Create the bucket and the table if they do not exist yet."""
    template = template or load_template()
    s3 = client("s3")
    existing = {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    dynamodb = client("dynamodb")
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(TableName=table, **table_definition(template))
        dynamodb.get_waiter("table_exists").wait(TableName=table)
