"""Breaking changes of openapi.json against the last released API (``make check`` runs this).

    python -m facematch_local.openapi_compat [--current FILE] [--released FILE] [--changelog FILE]

compares openapi.json with the newest api/released/openapi-X.Y.Z.json, structurally: each
operation's parameters, request bodies and responses, their schemas with every ``$ref`` followed.
A change is breaking when a client written against the release can fail with the current API:

- a path or an operation removed; a success (2xx) response or a media type removed;
- a request field or parameter removed, or a new required one (or an optional one now required);
- a request value narrowed: its type changed, an enum value removed, a maximum lowered or a
  minimum raised (lengths and item counts too), a pattern added or changed, extra fields refused;
- a response field removed or no longer always present, or a response value widened (a type or
  an enum value the release never answered);
- an operation that needed no API key now needs one.

Additive changes pass: a new path or operation, a new optional request field or parameter, a new
response field, a wider request value. Each breaking change is printed with its JSON path. They
pass only with a new API version (``info.version``, facematch.__version__: a major bump, or a
minor one while 0.x) whose section in CHANGELOG.md (``## [X.Y.Z]``) mentions each one, by its
path (``/api/embeddings``) or by the field or parameter's name. Exit 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facematch_local.project import OPENAPI_FILE, ROOT

RELEASED_DIR = ROOT / "api" / "released"
CHANGELOG = ROOT / "CHANGELOG.md"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REQUEST, RESPONSE = "request", "response"
_RELEASED_NAME = re.compile(r"^openapi-(\d+)\.(\d+)\.(\d+)\.json$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
# Upper and lower bounds: (keyword, its exclusive form or None, what the message calls it).
_UPPER = (("maximum", "exclusiveMaximum", "maximum"), ("maxLength", None, "maxLength"),
          ("maxItems", None, "maxItems"), ("maxProperties", None, "maxProperties"))
_LOWER = (("minimum", "exclusiveMinimum", "minimum"), ("minLength", None, "minLength"),
          ("minItems", None, "minItems"), ("minProperties", None, "minProperties"))


@dataclass(frozen=True)
class Change:
    """One breaking change: where (a JSON path into the document, through its $refs), what, and
    the names a changelog entry may mention it by (the API path, the field or parameter)."""

    where: str
    what: str
    mentions: tuple[str, ...]
    # Where the document defines what changed: a component schema's path when a $ref led there
    # (the change then breaks every operation using it), else ``where``.
    site: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"

    @property
    def defined_at(self) -> str:
        return self.site or self.where


def breaking_changes(released: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    """Every breaking change from ``released`` to ``current`` (two OpenAPI 3 documents)."""
    return _Diff(released, current).run()


@dataclass
class Verdict:
    released_version: str
    current_version: str
    changes: list[Change]
    uncovered: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.uncovered and not self.problems


def judge(released: dict[str, Any], current: dict[str, Any], changelog: str) -> Verdict:
    """Whether ``current`` may follow ``released``: no breaking change, or every one covered by a
    version bump and a mention in the new version's CHANGELOG section."""
    old_version, new_version = released["info"]["version"], current["info"]["version"]
    verdict = Verdict(old_version, new_version, breaking_changes(released, current))
    old, new = _version(old_version), _version(new_version)
    if old is None or new is None:
        verdict.problems.append(
            f"info.version must be X.Y.Z: released {old_version!r}, current {new_version!r}"
        )
        verdict.uncovered = list(verdict.changes)
        return verdict
    if new < old:
        verdict.problems.append(f"info.version {new_version} is older than the released {old_version}")
    if not verdict.changes:
        return verdict
    bumped = new[:2] > old[:2] if old[0] == 0 else new[0] > old[0]
    section = changelog_section(changelog, new_version)
    if not bumped:
        needed = f"{old[0]}.{old[1] + 1}.0" if old[0] == 0 else f"{old[0] + 1}.0.0"
        verdict.problems.append(
            "breaking changes need a new API version: bump facematch.__version__ "
            f"(layers/facematch/__init__.py) from {old_version} to {needed} or later, and list each "
            f"change (its path or field name) under '## [{needed}]' in CHANGELOG.md"
        )
        verdict.uncovered = list(verdict.changes)
    elif section is None:
        verdict.problems.append(
            f"CHANGELOG.md has no '## [{new_version}]' section listing the breaking changes"
        )
        verdict.uncovered = list(verdict.changes)
    else:
        verdict.uncovered = [
            change for change in verdict.changes if not any(_mentioned(m, section) for m in change.mentions)
        ]
        if verdict.uncovered:
            verdict.problems.append(
                f"CHANGELOG.md's [{new_version}] section does not mention these (by path or field name)"
            )
    return verdict


def changelog_section(text: str, version: str) -> str | None:
    """The body of the ``## [version]`` section of a Keep a Changelog file, or None."""
    heading = re.compile(rf"^##\s+\[?v?{re.escape(version)}\]?(?:\s|$)", re.M)
    match = heading.search(text)
    if match is None:
        return None
    following = re.compile(r"^##\s", re.M).search(text, match.end())
    return text[match.end(): following.start() if following else len(text)]


def newest_released(folder: Path = RELEASED_DIR) -> Path | None:
    found = [(tuple(map(int, m.groups())), path) for path in folder.glob("openapi-*.json")
             if (m := _RELEASED_NAME.match(path.name))]
    return max(found)[1] if found else None


def _version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(str(text))
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def _mentioned(term: str, text: str) -> bool:
    """``term`` as a word of ``text``: /api/embeddings is not mentioned by /api/embeddings/{embed_id}."""
    return re.search(rf"(?<![\w/{{-]){re.escape(term)}(?![\w/{{}}-])", text) is not None


def _key(name: str | int) -> str:
    return f".{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)) else f"[{json.dumps(str(name))}]"


def _template(path: str) -> str:
    """A path with its parameters' names left out: renaming {id} to {embed_id} changes no URL."""
    return re.sub(r"\{[^}]*\}", "{}", path)


class _Diff:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def run(self) -> list[Change]:
        new_paths = {_template(path): path for path in self.new.get("paths", {})}
        for path, old_item in self.old.get("paths", {}).items():
            where = f"paths{_key(path)}"
            new_path = new_paths.get(_template(path))
            if new_path is None:
                self._add(where, "path removed", (path,))
                continue
            new_item = self.new["paths"][new_path]
            for method in METHODS:
                if method not in old_item:
                    continue
                if method not in new_item:
                    self._add(f"{where}.{method}", f"operation {method.upper()} {path} removed", (path,))
                    continue
                self._operation(f"{where}.{method}", path, new_path, old_item, new_item, method)
        return self.changes

    def _add(self, where: str, what: str, mentions: tuple[str, ...]) -> None:
        self.changes.append(Change(where, what, mentions))

    # Operations ----------------------------------------------------------------------------

    def _operation(
        self, where: str, path: str, new_path: str, old_item: dict, new_item: dict, method: str
    ) -> None:
        old_op, new_op = old_item[method], new_item[method]
        if old_op.get("security", self.old.get("security")) == [] and new_op.get(
            "security", self.new.get("security")
        ) != []:
            self._add(f"{where}.security", "now needs an API key", (path,))
        self._parameters(where, path, new_path, old_item, new_item, old_op, new_op)
        self._request_body(where, path, old_op.get("requestBody"), new_op.get("requestBody"))
        self._responses(where, path, old_op.get("responses", {}), new_op.get("responses", {}))

    def _parameters(self, where, path, new_path, old_item, new_item, old_op, new_op) -> None:
        old_params = self._parameter_map(self.old, path, old_item, old_op)
        new_params = self._parameter_map(self.new, new_path, new_item, new_op)
        for key, old_param in old_params.items():
            location, name = old_param.get("in"), old_param.get("name")
            here = f"{where}.parameters[{json.dumps(f'{location} {name}')}]"
            new_param = new_params.get(key)
            if new_param is None:
                self._add(here, f"{location} parameter {name} removed", (path, name))
                continue
            if new_param.get("required") and not old_param.get("required"):
                self._add(here, f"{location} parameter {name} now required", (path, name))
            if "schema" in old_param and "schema" in new_param:
                self._compare(
                    old_param["schema"], new_param["schema"], f"{here}.schema", REQUEST, (path, name)
                )
        for key, new_param in new_params.items():
            if key not in old_params and new_param.get("required"):
                location, name = new_param.get("in"), new_param.get("name")
                self._add(
                    f"{where}.parameters[{json.dumps(f'{location} {name}')}]",
                    f"new required {location} parameter {name}", (path, name),
                )

    def _parameter_map(self, document: dict, path: str, item: dict, operation: dict) -> dict[tuple, dict]:
        """An operation's parameters (its path item's too) by where they are: a path parameter by
        its position in the path, a header by its name in any case, others by their name."""
        positions = {name: index for index, name in enumerate(re.findall(r"\{([^}]*)\}", path))}
        found: dict[tuple, dict] = {}
        for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
            param = _resolve(document, raw)
            location, name = param.get("in"), str(param.get("name"))
            if location == "path":
                key: tuple = ("path", positions.get(name, name))
            elif location == "header":
                key = ("header", name.lower())
            else:
                key = (location, name)
            found[key] = param
        return found

    def _request_body(self, where: str, path: str, old_body: dict | None, new_body: dict | None) -> None:
        here = f"{where}.requestBody"
        old_body = _resolve(self.old, old_body) if old_body else None
        new_body = _resolve(self.new, new_body) if new_body else None
        if old_body is None:
            if new_body is not None and new_body.get("required"):
                self._add(here, "request body now required", (path,))
            return
        if new_body is None:
            self._add(here, "request body removed", (path,))
            return
        if new_body.get("required") and not old_body.get("required"):
            self._add(here, "request body now required", (path,))
        self._content(
            f"{here}.content", path, old_body.get("content", {}), new_body.get("content", {}), REQUEST
        )

    def _responses(self, where: str, path: str, old_responses: dict, new_responses: dict) -> None:
        for status, old_response in old_responses.items():
            here = f"{where}.responses{_key(str(status))}"
            new_response = new_responses.get(status)
            if new_response is None:
                if str(status).startswith("2"):
                    self._add(here, f"success response {status} removed", (path,))
                continue
            old_response, new_response = _resolve(self.old, old_response), _resolve(self.new, new_response)
            old_content, new_content = old_response.get("content", {}), new_response.get("content", {})
            self._content(f"{here}.content", path, old_content, new_content, RESPONSE)

    def _content(self, where: str, path: str, old: dict, new: dict, direction: str) -> None:
        for media_type, old_media in old.items():
            here = f"{where}{_key(media_type)}"
            if media_type not in new:
                self._add(here, f"{direction} media type {media_type} removed", (path,))
                continue
            if "schema" in old_media and "schema" in new[media_type]:
                old_schema, new_schema = old_media["schema"], new[media_type]["schema"]
                self._compare(old_schema, new_schema, f"{here}.schema", direction, (path,))

    # Schemas -------------------------------------------------------------------------------

    def _compare(self, old: Any, new: Any, where: str, direction: str, mentions: tuple[str, ...]) -> None:
        at = _Where(where, where)
        self.changes.extend(self._schema_changes(old, new, at, direction, mentions, frozenset()))

    def _schema_changes(
        self, old: Any, new: Any, at: _Where, direction: str, mentions: tuple[str, ...], seen: frozenset
    ) -> list[Change]:
        """What breaks from schema ``old`` to ``new``: in a request the new one must accept all the
        old one did; in a response the new one must answer nothing the old one did not promise."""
        pair = (_ref(old), _ref(new), direction)
        if pair[0] and pair[1]:
            if pair in seen:
                return []  # a recursive schema: this pair is being compared further up
            seen = seen | {pair}
        at = at.through(_ref(new) or _ref(old))
        old_variants, new_variants = _variants(self.old, old), _variants(self.new, new)
        # The variants that must still be accepted, and those that must accept them.
        if direction == REQUEST:
            must, by = old_variants, new_variants
        else:
            must, by = new_variants, old_variants
        found: list[Change] = []
        for variant in must:
            candidates = [other for other in by if _accepts_type(_type_of(other), _type_of(variant))]
            if not candidates:
                found.append(at.change(_type_change(old_variants, new_variants), mentions))
                continue
            best: list[Change] | None = None
            for candidate in candidates:
                old_v, new_v = (variant, candidate) if direction == REQUEST else (candidate, variant)
                attempt = self._variant_changes(old_v, new_v, at, direction, mentions, seen)
                if best is None or len(attempt) < len(best):
                    best = attempt
                if not best:
                    break
            found.extend(best or [])
        return list(dict.fromkeys(found))

    def _variant_changes(
        self, old: dict, new: dict, at: _Where, direction: str, mentions: tuple[str, ...], seen: frozenset
    ) -> list[Change]:
        found = [at.change(what, mentions) for what in _narrowing(old, new, direction)]
        kind = _type_of(old) if _type_of(old) != "any" else _type_of(new)
        if kind == "object" or "properties" in old or "properties" in new:
            found += self._object_changes(old, new, at, direction, mentions, seen)
        if "items" in old and "items" in new:
            found += self._schema_changes(old["items"], new["items"], at / ".items", direction, mentions, seen)
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            found += self._schema_changes(
                old_extra, new_extra, at / ".additionalProperties", direction, mentions, seen
            )
        return found

    def _object_changes(
        self, old: dict, new: dict, at: _Where, direction: str, mentions: tuple[str, ...], seen: frozenset
    ) -> list[Change]:
        found: list[Change] = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        path = mentions[:1]
        for name, old_prop in old_props.items():
            here = at / f".properties{_key(name)}"
            if name not in new_props:
                found.append(here.change(f"{direction} field {name} removed", (*path, name)))
                continue
            if direction == REQUEST and name in new_required - old_required:
                found.append(here.change(f"request field {name} now required", (*path, name)))
            if direction == RESPONSE and name in old_required - new_required:
                found.append(here.change(f"response field {name} no longer always present", (*path, name)))
            found += self._schema_changes(old_prop, new_props[name], here, direction, (*path, name), seen)
        if direction == REQUEST:
            for name in sorted(new_required - set(old_props)):
                here = at / f".properties{_key(name)}"
                found.append(here.change(f"new required request field {name}", (*path, name)))
        return found


@dataclass(frozen=True)
class _Where:
    """Where a schema is, as the operation reaches it, and as the document defines it (inside the
    last component schema a $ref led to): one change there breaks every operation using it."""

    path: str
    site: str

    def __truediv__(self, suffix: str) -> _Where:
        return _Where(self.path + suffix, self.site + suffix)

    def through(self, ref: str | None) -> _Where:
        prefix = "#/components/schemas/"
        if ref and ref.startswith(prefix):
            return _Where(self.path, f"components.schemas{_key(ref.removeprefix(prefix))}")
        return self

    def change(self, what: str, mentions: tuple[str, ...]) -> Change:
        return Change(self.path, what, mentions, self.site)


def _resolve(document: dict, value: Any) -> Any:
    """``value`` with its local ``$ref`` chain followed (``#/components/...``)."""
    hops = 0
    while isinstance(value, dict) and isinstance(value.get("$ref"), str) and value["$ref"].startswith("#/"):
        target: Any = document
        for part in value["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in value.items() if k != "$ref"}
        value = {**target, **siblings} if siblings and isinstance(target, dict) else target
        hops += 1
        if hops > 64:
            raise ValueError(f"$ref loop at {value!r}")
    return value


def _ref(schema: Any) -> str | None:
    return schema.get("$ref") if isinstance(schema, dict) else None


def _variants(document: dict, schema: Any) -> list[dict]:
    """The alternatives a schema allows (anyOf and oneOf flattened, type lists split), each with
    its ``$ref`` followed; allOf merged into one."""
    schema = _resolve(document, schema)
    if schema is True or schema is None or schema == {}:
        return [{}]
    if schema is False:
        return []
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [variant for part in schema[keyword] for variant in _variants(document, part)]
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            for key, value in _resolve(document, part).items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", []), *value})
                else:
                    merged.setdefault(key, value)
        return _variants(document, merged)
    if isinstance(schema.get("type"), list):
        return [{**schema, "type": kind} for kind in schema["type"]]
    return [schema]


def _type_of(schema: dict) -> str:
    if "type" in schema:
        return schema["type"]
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    if values:
        kinds = {_json_type(value) for value in values}
        if len(kinds) == 1:
            return kinds.pop()
    return "any"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts_type(accepting: str, accepted: str) -> bool:
    return accepting in ("any", accepted) or (accepting == "number" and accepted == "integer")


def _type_change(old: list[dict], new: list[dict]) -> str:
    def names(variants: list[dict]) -> str:
        return " | ".join(dict.fromkeys(_type_of(v) for v in variants)) or "nothing"

    return f"type changed from {names(old)} to {names(new)}"


def _narrowing(old: dict, new: dict, direction: str) -> list[str]:
    """The constraints on one value that break: in a request, those that accept less than before;
    in a response, those that may answer what was never answered before."""
    accepting, accepted = (new, old) if direction == REQUEST else (old, new)
    found: list[str] = []
    allowed = _allowed(accepting)
    if allowed is not None:
        before = _allowed(accepted)
        if before is None:
            found.append(
                f"values now limited to {_show(allowed)}" if direction == REQUEST
                else f"values no longer limited to {_show(allowed)}"
            )
        elif before - allowed:
            verb = "removed" if direction == REQUEST else "added"
            found.append(f"enum value(s) {_show(before - allowed)} {verb}")
    for upper, bounds in ((True, _UPPER), (False, _LOWER)):
        for keyword, exclusive, label in bounds:
            tight, loose = _bound(accepting, keyword, exclusive), _bound(accepted, keyword, exclusive)
            if tight is None or not _tighter(tight, loose, upper):
                continue
            old_bound, new_bound = _bound(old, keyword, exclusive), _bound(new, keyword, exclusive)
            found.append(_bound_message(label, old_bound, new_bound, upper, direction))
    if accepting.get("pattern") is not None and accepting.get("pattern") != accepted.get("pattern"):
        old_pattern, new_pattern = old.get("pattern"), new.get("pattern")
        if old_pattern is None:
            found.append(f"pattern {new_pattern} added")
        elif new_pattern is None:
            found.append(f"pattern {old_pattern} removed")
        else:
            found.append(f"pattern changed from {old_pattern} to {new_pattern}")
    if accepting.get("uniqueItems") and not accepted.get("uniqueItems"):
        found.append("items now unique" if direction == REQUEST else "items no longer unique")
    refused = new.get("additionalProperties") is False and old.get("additionalProperties") is not False
    if direction == REQUEST and refused:
        found.append("fields it does not name now refused (additionalProperties: false)")
    return found


def _allowed(schema: dict) -> set[str] | None:
    if "const" in schema:
        return {json.dumps(schema["const"])}
    if "enum" in schema:
        return {json.dumps(value) for value in schema["enum"]}
    return None


def _show(values: set[str]) -> str:
    return ", ".join(sorted(values))


def _bound(schema: dict, keyword: str, exclusive: str | None) -> tuple[float, bool] | None:
    """A schema's bound as (value, exclusive), the tighter of the inclusive and exclusive ones."""
    found: list[tuple[float, bool]] = []
    if _is_number(schema.get(keyword)):
        # OpenAPI 3.0 wrote an exclusive bound as a boolean beside it; 3.1 as a number of its own.
        found.append((schema[keyword], schema.get(exclusive) is True if exclusive else False))
    if exclusive and _is_number(schema.get(exclusive)):
        found.append((schema[exclusive], True))
    if not found:
        return None
    upper = keyword.startswith("max")
    return sorted(found, key=lambda b: (b[0], not b[1]) if upper else (-b[0], not b[1]))[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tighter(tight: tuple[float, bool], loose: tuple[float, bool] | None, upper: bool) -> bool:
    """Whether bound ``tight`` excludes values that ``loose`` (None: no bound) allows."""
    if loose is None:
        return True
    if tight[0] != loose[0]:
        return tight[0] < loose[0] if upper else tight[0] > loose[0]
    return tight[1] and not loose[1]


def _bound_message(label, old, new, upper: bool, direction: str) -> str:
    def show(bound: tuple[float, bool] | None) -> str:
        if bound is None:
            return "none"
        value = int(bound[0]) if float(bound[0]).is_integer() else bound[0]
        return f"{value} (exclusive)" if bound[1] else str(value)

    if old is None:
        return f"{label} {show(new)} added"
    if new is None:
        return f"{label} {show(old)} removed"
    narrowed = direction == REQUEST
    verb = ("lowered" if narrowed else "raised") if upper else ("raised" if narrowed else "lowered")
    return f"{label} {verb} from {show(old)} to {show(new)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Breaking changes of openapi.json against the last release.")
    parser.add_argument("--current", type=Path, default=OPENAPI_FILE)
    parser.add_argument("--released", type=Path, help="default: the newest api/released/openapi-X.Y.Z.json")
    parser.add_argument("--changelog", type=Path, default=CHANGELOG)
    args = parser.parse_args(argv)
    released_file = args.released or newest_released()
    if released_file is None:
        print(f"No released document in {RELEASED_DIR}: nothing to compare with.", file=sys.stderr)
        return 1
    released = json.loads(released_file.read_text())
    current = json.loads(args.current.read_text())
    changelog = args.changelog.read_text() if args.changelog.exists() else ""
    verdict = judge(released, current, changelog)
    print(f"{_shown(args.current)} ({verdict.current_version}) against {_shown(released_file)} "
          f"({verdict.released_version}):")
    print("\n".join(report(verdict)))
    for problem in verdict.problems:
        print(problem, file=sys.stderr)
    return 0 if verdict.ok else 1


def report(verdict: Verdict) -> list[str]:
    """One entry per breaking change, at the JSON path where the document defines it, with where
    an operation first meets it when that is elsewhere (a component schema many operations use)."""
    groups: dict[tuple[str, str], list[Change]] = {}
    for change in verdict.changes:
        groups.setdefault((change.defined_at, change.what), []).append(change)
    lines = [f"  {len(groups)} breaking change(s)" + (f", met in {len(verdict.changes)} places"
                                                     if len(verdict.changes) > len(groups) else "")]
    uncovered = set(verdict.uncovered)
    for (defined_at, what), changes in groups.items():
        listed = not any(change in uncovered for change in changes)
        lines.append(f"  {'listed      ' if listed else 'NOT COVERED '}{defined_at}: {what}")
        if changes[0].where != defined_at:
            more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
            lines.append(f"      used at {changes[0].where}{more}")
    return lines


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
