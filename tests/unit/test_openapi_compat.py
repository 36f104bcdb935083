"""The breaking-change check of the OpenAPI document (make check): each kind of breaking change
is found on small documents, additive changes pass, and a breaking change passes only with a
version bump and a CHANGELOG entry that names it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from facematch_local.openapi_compat import breaking_changes, changelog_section, judge, main, newest_released

ROOT = Path(__file__).resolve().parents[2]


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def released(version: str = "0.1.0") -> dict[str, Any]:
    """A small API: a listing with paging, an enrollment-like POST, a delete by id, a health."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Items", "version": version},
        "security": [{"ApiKey": []}],
        "paths": {
            "/api/items": {
                "get": {
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
                        {"name": "organization", "in": "query", "required": False,
                         "schema": {"anyOf": [{"type": "string", "pattern": "^[a-z]+$"}, {"type": "null"}]}},
                        {"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "ok", "content": _json("Page")}},
                },
                "post": {
                    "requestBody": {"required": True, "content": _json("ItemRequest")},
                    "responses": {
                        "201": {"description": "created", "content": _json("Item")},
                        "400": {"description": "invalid", "content": _json("Error")},
                    },
                },
            },
            "/api/items/{item_id}": {
                "delete": {
                    "parameters": [{"name": "item_id", "in": "path", "required": True,
                                    "schema": {"type": "integer", "minimum": 1}}],
                    "responses": {"200": {"description": "ok", "content": _json("Item")}},
                },
            },
            "/api/health": {
                "get": {
                    "security": [], "responses": {"200": {"description": "ok", "content": _json("Health")}}
                },
            },
        },
        "components": {"schemas": {
            "ItemRequest": {
                "type": "object", "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 64},
                    "kind": {"type": "string", "enum": ["a", "b"], "default": "a"},
                    "score": {
                        "anyOf": [{"type": "number", "minimum": 0.0, "maximum": 2.0}, {"type": "null"}]
                    },
                    "labels": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Item": {
                "type": "object", "required": ["id", "name", "state"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "state": {"type": "string", "enum": ["new", "done"]},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "face": {"$ref": "#/components/schemas/Face"},
                },
            },
            "Face": {"type": "object", "required": ["x", "y"],
                     "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}},
            "Page": {
                "type": "object", "required": ["items"],
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_token": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
            "Error": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
            "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        }},
    }


def changed(edit: Callable[[dict[str, Any]], Any], version: str = "0.1.0") -> dict[str, Any]:
    document = copy.deepcopy(released())
    document["info"]["version"] = version
    edit(document)
    return document


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]


def props(document: dict[str, Any], schema: str) -> dict[str, Any]:
    return schemas(document)[schema]["properties"]


def get_items(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/api/items"]["get"]


def param(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in get_items(document)["parameters"] if p["name"] == name)


BREAKING = {
    "path removed": (
        lambda d: d["paths"].pop("/api/items/{item_id}"),
        'paths["/api/items/{item_id}"]', "path removed",
    ),
    "operation removed": (
        lambda d: d["paths"]["/api/items"].pop("post"),
        'paths["/api/items"].post', "operation POST /api/items removed",
    ),
    "success response removed": (
        lambda d: d["paths"]["/api/items"]["post"]["responses"].pop("201"),
        'paths["/api/items"].post.responses["201"]', "success response 201 removed",
    ),
    "response field removed": (
        lambda d: props(d, "Item").pop("note"),
        'paths["/api/items"].get.responses["200"].content["application/json"].schema.properties.items.items'
        ".properties.note", "response field note removed",
    ),
    "nested response field removed": (
        lambda d: props(d, "Face").pop("y"),
        'paths["/api/items"].post.responses["201"].content["application/json"].schema.properties.face'
        ".properties.y", "response field y removed",
    ),
    "response field no longer always present": (
        lambda d: schemas(d)["Item"]["required"].remove("name"),
        "schema.properties.name", "response field name no longer always present",
    ),
    "response type changed": (
        lambda d: props(d, "Item")["id"].update(type="string"),
        "schema.properties.id", "type changed from integer to string",
    ),
    "response becomes nullable": (
        lambda d: props(d, "Item").update(name={"anyOf": [{"type": "string"}, {"type": "null"}]}),
        "schema.properties.name", "type changed from string to string | null",
    ),
    "response enum value added": (
        lambda d: props(d, "Item")["state"]["enum"].append("failed"),
        "schema.properties.state", 'enum value(s) "failed" added',
    ),
    "request field removed": (
        lambda d: props(d, "ItemRequest").pop("kind"),
        'paths["/api/items"].post.requestBody.content["application/json"].schema.properties.kind',
        "request field kind removed",
    ),
    "new required request field": (
        lambda d: (props(d, "ItemRequest").update(owner={"type": "string"}),
                   schemas(d)["ItemRequest"]["required"].append("owner")),
        'requestBody.content["application/json"].schema.properties.owner', "new required request field owner",
    ),
    "request field now required": (
        lambda d: schemas(d)["ItemRequest"]["required"].append("kind"),
        "schema.properties.kind", "request field kind now required",
    ),
    "request type changed": (
        lambda d: props(d, "ItemRequest")["name"].update(type="integer"),
        "schema.properties.name", "type changed from string to integer",
    ),
    "request number narrowed to integer": (
        lambda d: props(d, "ItemRequest")["score"]["anyOf"][0].update(type="integer"),
        "schema.properties.score", "type changed from number | null to integer | null",
    ),
    "request no longer nullable": (
        lambda d: props(d, "ItemRequest")["score"]["anyOf"].pop(1),
        "schema.properties.score", "type changed from number | null to number",
    ),
    "request enum value removed": (
        lambda d: props(d, "ItemRequest")["kind"].update(enum=["a"]),
        "schema.properties.kind", 'enum value(s) "b" removed',
    ),
    "request enum added": (
        lambda d: props(d, "ItemRequest")["name"].update(enum=["x", "y"]),
        "schema.properties.name", 'values now limited to "x", "y"',
    ),
    "request maximum lowered": (
        lambda d: props(d, "ItemRequest")["score"]["anyOf"][0].update(maximum=1.0),
        "schema.properties.score", "maximum lowered from 2 to 1",
    ),
    "request maximum made exclusive": (
        lambda d: props(d, "ItemRequest")["score"]["anyOf"][0].update(maximum=None, exclusiveMaximum=2.0)
        or props(d, "ItemRequest")["score"]["anyOf"][0].pop("maximum"),
        "schema.properties.score", "maximum lowered from 2 to 2 (exclusive)",
    ),
    "request minimum raised": (
        lambda d: props(d, "ItemRequest")["score"]["anyOf"][0].update(minimum=0.5),
        "schema.properties.score", "minimum raised from 0 to 0.5",
    ),
    "request maxLength lowered": (
        lambda d: props(d, "ItemRequest")["name"].update(maxLength=32),
        "schema.properties.name", "maxLength lowered from 64 to 32",
    ),
    "request minLength added": (
        lambda d: props(d, "ItemRequest")["name"].update(minLength=3),
        "schema.properties.name", "minLength 3 added",
    ),
    "request maxItems added": (
        lambda d: props(d, "ItemRequest")["labels"].update(maxItems=5),
        "schema.properties.labels", "maxItems 5 added",
    ),
    "request array items narrowed": (
        lambda d: props(d, "ItemRequest")["labels"]["items"].update(pattern="^[a-z]+$"),
        "schema.properties.labels.items", "pattern ^[a-z]+$ added",
    ),
    "request pattern added": (
        lambda d: props(d, "ItemRequest")["name"].update(pattern="^[A-Z]"),
        "schema.properties.name", "pattern ^[A-Z] added",
    ),
    "request extra fields refused": (
        lambda d: schemas(d)["ItemRequest"].update(additionalProperties=False),
        'requestBody.content["application/json"].schema', "fields it does not name now refused",
    ),
    "request body now required": (
        lambda d: d["paths"]["/api/items/{item_id}"]["delete"].update(
            requestBody={"required": True, "content": _json("ItemRequest")}),
        'paths["/api/items/{item_id}"].delete.requestBody', "request body now required",
    ),
    "request media type removed": (
        lambda d: d["paths"]["/api/items"]["post"]["requestBody"].update(
            content={"multipart/form-data": {"schema": {"$ref": "#/components/schemas/ItemRequest"}}}),
        'requestBody.content["application/json"]', "request media type application/json removed",
    ),
    "parameter maximum lowered": (
        lambda d: param(d, "limit")["schema"].update(maximum=100),
        'paths["/api/items"].get.parameters["query limit"].schema', "maximum lowered from 1000 to 100",
    ),
    "parameter minimum raised": (
        lambda d: d["paths"]["/api/items/{item_id}"]["delete"]["parameters"][0]["schema"].update(minimum=10),
        'parameters["path item_id"].schema', "minimum raised from 1 to 10",
    ),
    "parameter pattern changed": (
        lambda d: param(d, "organization")["schema"]["anyOf"][0].update(pattern="^[a-z0-9]+$"),
        'parameters["query organization"].schema', "pattern changed from ^[a-z]+$ to ^[a-z0-9]+$",
    ),
    "parameter removed": (
        lambda d: get_items(d)["parameters"].pop(0),
        'parameters["query limit"]', "query parameter limit removed",
    ),
    "parameter now required": (
        lambda d: param(d, "organization").update(required=True),
        'parameters["query organization"]', "query parameter organization now required",
    ),
    "new required parameter": (
        lambda d: get_items(d)["parameters"].append(
            {"name": "status", "in": "query", "required": True, "schema": {"type": "string"}}),
        'parameters["query status"]', "new required query parameter status",
    ),
    "public operation needs a key": (
        lambda d: d["paths"]["/api/health"]["get"].pop("security"),
        'paths["/api/health"].get.security', "now needs an API key",
    ),
}


@pytest.mark.parametrize("kind", BREAKING)
def test_each_kind_of_breaking_change_is_found_with_its_json_path(kind):
    edit, where, what = BREAKING[kind]
    changes = breaking_changes(released(), changed(edit))
    found = any(where in change.where and what in change.what for change in changes)
    assert found, "\n".join(map(str, changes))


@pytest.mark.parametrize("kind", BREAKING)
def test_a_breaking_change_fails_without_a_new_version(kind):
    verdict = judge(released(), changed(BREAKING[kind][0]), changelog("0.1.0", "Everything changed."))
    assert not verdict.ok and verdict.uncovered
    assert any("0.2.0" in problem for problem in verdict.problems)


ADDITIVE = {
    "nothing": lambda d: None,
    "new path": lambda d: d["paths"].update(
        {"/api/things": {"get": {"responses": {"200": {"description": "ok", "content": _json("Item")}}}}}),
    "new operation": lambda d: d["paths"]["/api/items/{item_id}"].update(
        get={"responses": {"200": {"description": "ok", "content": _json("Item")}}}),
    "new optional request field": lambda d: props(d, "ItemRequest").update(colour={"type": "string"}),
    "new optional parameter": lambda d: get_items(d)["parameters"].append(
        {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}}),
    "new response field": lambda d: props(d, "Item").update(created_at={"type": "string"}),
    "new required response field": lambda d: (props(d, "Item").update(created_at={"type": "string"}),
                                              schemas(d)["Item"]["required"].append("created_at")),
    "new error response": lambda d: d["paths"]["/api/items"]["post"]["responses"].update(
        {"409": {"description": "conflict", "content": _json("Error")}}),
    "error response removed": lambda d: d["paths"]["/api/items"]["post"]["responses"].pop("400"),
    "request maximum raised": lambda d: param(d, "limit")["schema"].update(maximum=5000),
    "request minimum removed": lambda d: param(d, "limit")["schema"].pop("minimum"),
    "request enum value added": lambda d: props(d, "ItemRequest")["kind"]["enum"].append("c"),
    "request pattern removed": lambda d: param(d, "organization")["schema"]["anyOf"][0].pop("pattern"),
    "request integer widened to number": lambda d: param(d, "limit")["schema"].update(type="number"),
    "request made nullable": lambda d: props(d, "ItemRequest").update(
        name={"anyOf": [{"type": "string", "maxLength": 64}, {"type": "null"}]}),
    "request field no longer required": lambda d: schemas(d)["ItemRequest"]["required"].clear(),
    "response no longer nullable": lambda d: props(d, "Item").update(note={"type": "string"}),
    "response enum value dropped": lambda d: props(d, "Item")["state"].update(enum=["done"]),
    "path parameter renamed": lambda d: d["paths"].update(
        {"/api/items/{id}": _renamed_path_parameter(d["paths"].pop("/api/items/{item_id}"))}),
    "header name in another case": lambda d: param(d, "Idempotency-Key").update(name="idempotency-key"),
    "schema renamed": lambda d: _rename_schema(d, "Item", "ItemRecord"),
    "descriptions and examples": lambda d: schemas(d)["Item"].update(
        description="An item.", examples=[{"id": 1, "name": "n", "state": "new"}]),
    "key no longer needed": lambda d: d["paths"]["/api/items"]["get"].update(security=[]),
}


def _renamed_path_parameter(item: dict[str, Any]) -> dict[str, Any]:
    item["delete"]["parameters"][0]["name"] = "id"
    return item


def _rename_schema(document: dict[str, Any], old: str, new: str) -> None:
    schemas(document)[new] = schemas(document).pop(old)
    text = json.dumps(document).replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    document.clear()
    document.update(json.loads(text))


@pytest.mark.parametrize("kind", ADDITIVE)
def test_additive_changes_pass_without_a_new_version(kind):
    current = changed(ADDITIVE[kind])
    assert breaking_changes(released(), current) == []
    assert judge(released(), current, "").ok


def changelog(version: str, text: str) -> str:
    return (
        "# Changelog\n\n## [Unreleased]\n\n"
        f"## [{version}] - 2027-01-15\n\n### Changed\n\n- {text}\n\n"
        "## [0.1.0] - 2026-12-01\n\n### Added\n\n- The API: /api/items, limit, note.\n"
    )


def drop_note(document: dict[str, Any]) -> None:
    props(document, "Item").pop("note")


def test_a_minor_bump_with_a_changelog_entry_naming_the_field_passes_while_0x():
    log = changelog("0.2.0", "Items no longer answer `note`.")
    verdict = judge(released(), changed(drop_note, "0.2.0"), log)
    assert verdict.changes and verdict.ok


def test_a_changelog_entry_naming_the_path_covers_its_changes():
    current = changed(lambda d: (drop_note(d), param(d, "limit")["schema"].update(maximum=100)), "0.2.0")
    verdict = judge(released(), current, changelog("0.2.0", "`GET /api/items`: limit at most 100; no note."))
    assert len(verdict.changes) >= 2 and verdict.ok


def test_a_bump_without_a_changelog_section_fails():
    log = changelog("0.1.1", "Items no longer answer note.")
    verdict = judge(released(), changed(drop_note, "0.2.0"), log)
    assert not verdict.ok and "no '## [0.2.0]' section" in verdict.problems[0]


def test_a_bump_whose_changelog_does_not_mention_the_change_fails():
    verdict = judge(released(), changed(drop_note, "0.2.0"), changelog("0.2.0", "Faster listings."))
    # Each operation answering an Item: the listing, the POST and the DELETE.
    assert not verdict.ok and [c.what for c in verdict.uncovered] == ["response field note removed"] * 3


def test_a_mention_of_a_longer_path_is_not_a_mention_of_the_shorter():
    current = changed(lambda d: param(d, "limit")["schema"].update(maximum=100), "0.2.0")
    log = changelog("0.2.0", "`/api/items/{item_id}` changed; /api/itemsets too.")
    verdict = judge(released(), current, log)
    assert not verdict.ok


def test_a_patch_bump_is_not_enough():
    verdict = judge(released(), changed(drop_note, "0.1.1"), changelog("0.1.1", "No more note."))
    assert not verdict.ok and "0.2.0" in verdict.problems[0]


def test_from_1_0_only_a_major_bump_allows_a_breaking_change():
    old = released("1.4.2")
    minor = changed(drop_note, "1.5.0")
    assert not judge(old, minor, changelog("1.5.0", "No more note.")).ok
    major = changed(drop_note, "2.0.0")
    assert judge(old, major, changelog("2.0.0", "No more note.")).ok


def test_a_version_older_than_the_release_fails():
    verdict = judge(released("0.3.0"), changed(lambda d: None, "0.2.0"), "")
    assert not verdict.ok


def test_recursive_schemas_are_compared_without_looping():
    def tree(document: dict[str, Any]) -> None:
        children = {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
        schemas(document)["Node"] = {
            "type": "object", "properties": {"name": {"type": "string"}, "children": children}
        }
        props(document, "Item")["tree"] = {"$ref": "#/components/schemas/Node"}

    old = changed(tree)
    assert breaking_changes(old, copy.deepcopy(old)) == []
    new = copy.deepcopy(old)
    props(new, "Node").pop("name")
    found = {(c.where.split(".schema")[-1], c.what) for c in breaking_changes(old, new)}
    assert (".properties.tree.properties.name", "response field name removed") in found


def test_changelog_sections_are_read_as_keep_a_changelog_writes_them():
    text = changelog("0.2.0", "Dropped note.")
    assert changelog_section(text, "0.2.0").strip().endswith("Dropped note.")
    assert "The API" in changelog_section(text, "0.1.0")
    assert changelog_section(text, "0.3.0") is None


def test_the_newest_release_is_found_by_version_not_by_name(tmp_path):
    for version in ("0.9.0", "0.10.0", "0.2.0"):
        (tmp_path / f"openapi-{version}.json").write_text("{}")
    (tmp_path / "notes.json").write_text("{}")
    assert newest_released(tmp_path).name == "openapi-0.10.0.json"


def test_the_command_prints_each_change_and_fails_until_it_is_released(tmp_path, capsys):
    (tmp_path / "released.json").write_text(json.dumps(released()))
    current = tmp_path / "openapi.json"
    current.write_text(json.dumps(changed(drop_note)))
    log = tmp_path / "CHANGELOG.md"
    log.write_text(changelog("0.1.0", "Nothing."))
    arguments = [
        "--released", str(tmp_path / "released.json"), "--current", str(current), "--changelog", str(log)
    ]
    assert main(arguments) == 1
    out, err = capsys.readouterr()
    assert "NOT COVERED components.schemas.Item.properties.note: response field note removed" in out
    assert 'used at paths["/api/items"].get.responses["200"]' in out and "(and 2 more)" in out
    assert "0.2.0" in err
    current.write_text(json.dumps(changed(drop_note, "0.2.0")))
    log.write_text(changelog("0.2.0", "`note` is gone from items."))
    assert main(arguments) == 0


def test_the_committed_document_is_compatible_with_the_last_release():
    """What make check runs: openapi.json against the newest api/released/ document."""
    released_file = newest_released(ROOT / "api" / "released")
    if released_file is None:
        pytest.skip("no api/released/ in this copy of the tree (make mutation copies part of it)")
    current = json.loads((ROOT / "openapi.json").read_text())
    verdict = judge(json.loads(released_file.read_text()), current, (ROOT / "CHANGELOG.md").read_text())
    assert verdict.ok, "\n".join([*map(str, verdict.uncovered), *verdict.problems])
