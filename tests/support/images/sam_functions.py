"""The image functions of template.yaml: how `sam build` builds each one, and what Lambda gives it.

Values are resolved as CloudFormation would with every parameter at its default, in the account
and region that moto serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"


@dataclass(frozen=True)
class ImageFunction:
    logical_id: str
    dockerfile: Path
    context: Path
    build_args: dict[str, str]
    environment: dict[str, str]
    architecture: str


def image_functions(template: dict[str, Any], template_dir: Path) -> dict[str, ImageFunction]:
    names = references(template)
    defaults = template.get("Globals", {}).get("Function", {})
    functions = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Serverless::Function" or properties.get("PackageType") != "Image":
            continue
        metadata = resource["Metadata"]
        context = template_dir / metadata["DockerContext"]
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        [architecture] = properties.get("Architectures", defaults.get("Architectures"))
        functions[logical_id] = ImageFunction(
            logical_id=logical_id,
            dockerfile=context / metadata["Dockerfile"],
            context=context,
            build_args={name: str(value) for name, value in metadata.get("DockerBuildArgs", {}).items()},
            environment={name: resolve(value, names) for name, value in variables.items()},
            architecture=resolve(architecture, names),
        )
    return functions


def references(template: dict[str, Any]) -> dict[str, str]:
    """What !Ref gives for each parameter (its default), pseudo parameter and named resource.

    A resource the template leaves unnamed (the table) gets its logical id as its name.
    """
    names = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    names.update({name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items()})
    for logical_id, resource in template["Resources"].items():
        explicit = [value for key, value in resource.get("Properties", {}).items() if key in ("BucketName", "TableName")]
        names[logical_id] = resolve(explicit[0], names) if explicit else logical_id
    return names


def resolve(value: Any, names: dict[str, str]) -> str:
    """A plain value, !Ref or !Sub (what the functions' environment uses); anything else is refused."""
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Sub"} and isinstance(value["Sub"], str):
        return re.sub(r"\$\{([\w:]+)\}", lambda match: names[match[1]], value["Sub"])
    raise ValueError(f"cannot resolve {value!r} without deploying")
