"""openapi.json reads like a reference: every operation under one of the tags, with a summary, a
description, named bodies and examples; and every example in it is valid against its schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from facematch.http import TAGS
from facematch_local.openapi import FORM_BODIES, _drop_unreferenced_schemas, _name_form_bodies

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "openapi.json").read_text())
# The reference's tags, in this order (service: the deployment's own health, and this document).
EXPECTED_TAGS = ["enrollment", "matching", "persons", "holdings", "keys", "uploads", "reports", "service"]
DOCUMENT_URI = "urn:facematch:openapi"


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


OPERATIONS = [pytest.param(op, id=f"{method.upper()} {path}") for path, method, op in operations()]


def test_the_document_is_valid_openapi():
    validate_openapi(DOCUMENT)


def test_the_tags_are_listed_in_order_each_with_a_description():
    assert [tag["name"] for tag in DOCUMENT["tags"]] == EXPECTED_TAGS == list(TAGS)
    for tag in DOCUMENT["tags"]:
        assert tag["description"].strip() and "\n" not in tag["description"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_has_one_tag_a_one_line_summary_and_a_description(operation):
    assert len(operation["tags"]) == 1 and operation["tags"][0] in EXPECTED_TAGS
    summary = operation["summary"]
    assert summary.strip() and "\n" not in summary and len(summary) <= 80
    assert "/api" not in summary, "a summary says what the operation does, not its path"
    assert len(operation["description"]) > len(summary)
    assert operation["operationId"][0].islower() and operation["operationId"].isalnum()


def test_the_tags_group_the_operations_as_the_reference_does():
    tagged = {(method.upper(), path): op["tags"][0] for path, method, op in operations()}
    assert tagged[("GET", "/api/persons")] == tagged[("DELETE", "/api/embeddings")] == "persons"
    assert {tagged[key] for key in [("GET", "/api/embeddings"), ("GET", "/api/embeddings/{embed_id}"),
                                    ("DELETE", "/api/embeddings/{embed_id}"),
                                    ("DELETE", "/api/organizations/{organization}"), ("POST", "/api/sweeps"),
                                    ("GET", "/api/jobs/{job_id}"), ("GET", "/api/audit")]} == {"holdings"}
    assert tagged[("POST", "/api/embeddings")] == "enrollment"
    reports = {tag for (method, path), tag in tagged.items() if path.startswith("/api/duplicate-reports")}
    assert reports == {"reports"}
    assert set(tagged.values()) == set(EXPECTED_TAGS), "every tag groups some operation"


def test_no_schema_has_a_generated_name():
    names = set(DOCUMENT["components"]["schemas"])
    assert not [name for name in names if name.startswith("Body_")]
    assert {body.name for body in FORM_BODIES.values()} <= names
    refs = set(_refs(DOCUMENT))
    assert refs <= {f"#/components/schemas/{name}" for name in names}, "every $ref resolves"
    assert {f"#/components/schemas/{name}" for name in names} <= refs | _refs_within_components(), (
        "every schema is used"
    )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_request_body_and_success_has_an_example(operation):
    bodies = list(operation.get("requestBody", {}).get("content", {}).values())
    successes = [media for status, response in operation["responses"].items() if status.startswith("2")
                 for media in response.get("content", {}).values()]
    assert successes
    for media in bodies + successes:
        assert _media_examples(media), f"no example for {media['schema']}"


def test_every_example_is_valid_against_its_schema():
    checked = 0
    for where, schema, example in _examples(DOCUMENT):
        errors = sorted(_validator(schema).iter_errors(example), key=lambda e: list(e.path))
        assert not errors, f"{where}: {errors[0].message} at {list(errors[0].path)}"
        checked += 1
    assert checked >= 50


def test_an_invalid_example_is_caught():
    document = copy.deepcopy(DOCUMENT)
    document["components"]["schemas"]["Face"]["examples"] = [{"x": "left"}]
    with pytest.raises(AssertionError):
        for where, schema, example in _examples(document):
            assert _validator(schema, document).is_valid(example), where


def test_form_bodies_are_renamed_with_every_reference_and_given_their_example():
    body = FORM_BODIES["enrollPhotos"]
    document = {
        "paths": {"/api/embeddings": {"post": {"requestBody": {"content": {"multipart/form-data": {
            "schema": {"$ref": "#/components/schemas/Body_enrollPhotos"}}}}}}},
        "components": {"schemas": {
            "Body_enrollPhotos": {"title": "Body_enrollPhotos", "type": "object",
                                  "properties": {"face": {"$ref": "#/components/schemas/Face"}}},
            "Face": {"type": "object"}, "Unused": {"type": "object"},
        }},
    }
    _name_form_bodies(document)
    _drop_unreferenced_schemas(document)
    assert set(document["components"]["schemas"]) == {body.name, "Face"}
    schema = document["components"]["schemas"][body.name]
    assert schema["title"] == body.name and schema["examples"] == [body.example]
    media = document["paths"]["/api/embeddings"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert media["schema"] == {"$ref": f"#/components/schemas/{body.name}"}


def test_a_form_body_without_a_name_is_refused():
    document = {"paths": {}, "components": {"schemas": {"Body_newRoute": {"type": "object"}}}}
    with pytest.raises(ValueError, match="FORM_BODIES"):
        _name_form_bodies(document)


# Where examples are, and their schemas -------------------------------------------------------


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _refs_within_components() -> set[str]:
    return set(_refs(DOCUMENT["components"]))


def _media_examples(media: dict[str, Any]) -> list[Any]:
    found = [media["example"]] if "example" in media else []
    found += [example["value"] for example in media.get("examples", {}).values()]
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return found + list(schema.get("examples", []))


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example of the document: of media types, parameters
    and schemas (a schema's ``examples``, and its properties' at any depth)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                for example in _own_examples(parameter):
                    yield f"{where} parameter {parameter['name']}", parameter["schema"], example
            media_types = [("request", media) for media in
                           operation.get("requestBody", {}).get("content", {}).values()]
            media_types += [(status, media) for status, response in operation["responses"].items()
                            for media in response.get("content", {}).values()]
            for label, media in media_types:
                for example in _own_examples(media):
                    yield f"{where} {label}", media["schema"], example
    for name, schema in document["components"]["schemas"].items():
        yield from _schema_examples(f"#/components/schemas/{name}", schema)


def _own_examples(holder: dict[str, Any]) -> list[Any]:
    found = [holder["example"]] if "example" in holder else []
    return found + [example["value"] for example in holder.get("examples", {}).values()]


def _schema_examples(where: str, schema: Any) -> Iterator[tuple[str, dict[str, Any], Any]]:
    if not isinstance(schema, dict):
        return
    for example in schema.get("examples", []):
        yield where, schema, example
    if "example" in schema:
        yield where, schema, schema["example"]
    for key in ("properties",):
        for name, child in schema.get(key, {}).items():
            yield from _schema_examples(f"{where}/properties/{name}", child)
    for key in ("items", "additionalProperties"):
        yield from _schema_examples(f"{where}/{key}", schema.get(key))
    for key in ("anyOf", "oneOf", "allOf"):
        for index, child in enumerate(schema.get(key, [])):
            yield from _schema_examples(f"{where}/{key}/{index}", child)


def _validator(schema: dict[str, Any], document: dict[str, Any] = DOCUMENT) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator of ``schema`` (OpenAPI 3.1's dialect), its $refs into the
    document resolved."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator(_absolute_refs(schema), registry=registry)


def _absolute_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: (DOCUMENT_URI + item if key == "$ref" and isinstance(item, str) and item.startswith("#/")
                      else _absolute_refs(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_absolute_refs(item) for item in value]
    return value
