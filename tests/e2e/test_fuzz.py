"""Property-based fuzzing of the local stack against the OpenAPI document it serves.

Schemathesis generates requests for every documented operation (schema examples, coverage
of each constraint's edges, valid and invalid data) with the admin key, and every response
must be no server error, with a documented status code, content type and body schema.
The run is bounded and seeded, so it finds the same cases every time: FACEMATCH_FUZZ_EXAMPLES
examples per operation and generation mode (50 in `make test`, about a minute; `make test-fuzz`
runs 200, a few minutes).
Requests crafted past what the schema describes (forged page tokens, deeply nested JSON, huge
file names, the organizations . and ..) come on top, each expecting its typed 4xx.
"""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from facematch_testing.photos import blank_image
from facematch_testing.stack import ADMIN_KEY

# One stack for the module under `--dist loadgroup`.
pytestmark = [pytest.mark.model, pytest.mark.xdist_group("fuzz")]

# Per operation and generation mode (valid, invalid data); coverage cases come on top, whatever
# the count. 50 finds every crash class this test has found or been checked against (non-UTF-8 form
# fields, undocumented 404s, a multipart body without a boundary, page tokens that are not ASCII:
# each one still caught with 10) in about a quarter of the time 200 takes; `make test-fuzz` runs 200.
MAX_EXAMPLES = int(os.environ.get("FACEMATCH_FUZZ_EXAMPLES", "50"))
SEED = 20250101
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(local_stack):
    """The OpenAPI document the stack serves, with every generated request sent with the admin key."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"x-api-key": ADMIN_KEY},
            "request-timeout": 60,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "mode": "all"},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_url(
        f"{local_stack.url}/api/openapi.json", config=config, headers={"x-api-key": ADMIN_KEY}, timeout=30
    )


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """Schemathesis 4.32 reads ``Node._nodeid``, which pytest 9.2 no longer has (it names its
    subtests with it); give it the node's id."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_the_api_answers_every_request_as_documented(case):
    case.call_and_validate(headers={"x-api-key": ADMIN_KEY}, checks=CHECKS, timeout=60)


def test_a_photo_sent_as_a_plain_form_field_is_a_400_not_a_500(local_stack, faces_dir):
    """Found by the fuzzer: a non-file multipart part that is not UTF-8 (``curl -F images=<photo``)."""
    boundary = "fuzz-boundary"
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="organization"\r\n\r\nfuzz\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"\r\n\r\n'.encode(),
            (faces_dir / "img1.jpg").read_bytes(),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    response = httpx.post(
        f"{local_stack.url}/api/embeddings",
        content=body,
        headers={"x-api-key": ADMIN_KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def _unsigned(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> dict:
    return {"data": fields, "files": {field: (name, content, "image/png") for field, (name, content) in files.items()}}


# Requests crafted to reach past the schema: (method, path, request options, status, code).
CRAFTED = {
    "next_token with a number where a string goes": (
        "GET", "/api/embeddings",
        {"params": {"organization": "fuzz", "external_id": "p", "next_token": _unsigned(
            {"pk": {"S": 123}, "sk": {"S": "EMB#000000000001"}, "external_key": {"S": "ORG#fuzz#EXT#p"}}
        )}},
        400, "INVALID_PAGE_TOKEN",
    ),
    "next_token of wrong types only": (
        "GET", "/api/embeddings", {"params": {"organization": "fuzz", "next_token": _unsigned({"pk": {"S": 123}})}},
        400, "INVALID_PAGE_TOKEN",
    ),
    "next_token nested 3000 deep": (
        "GET", "/api/embeddings",
        {"params": {"organization": "fuzz", "next_token": base64.urlsafe_b64encode(b"[" * 3000).decode()}},
        400, "INVALID_PAGE_TOKEN",
    ),
    "next_token another organization's key": (
        "GET", "/api/embeddings",
        {"params": {"organization": "fuzz", "next_token": _unsigned({"pk": {"S": "ORG#x"}, "sk": {"S": "EMB#1"}})}},
        400, "INVALID_PAGE_TOKEN",
    ),
    "enrollment JSON 100000 arrays deep": (
        "POST", "/api/embeddings",
        {"content": '{"organization": "fuzz", "images": ' + "[" * 100_000 + "]" * 100_000 + "}",
         "headers": {"Content-Type": "application/json"}},
        400, "VALIDATION_ERROR",
    ),
    "comparison JSON 5000 objects deep": (
        "POST", "/api/face-compare",
        {"content": '{"organization": "fuzz", "image": "aGk=", "x": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
         "headers": {"Content-Type": "application/json"}},
        400, "VALIDATION_ERROR",
    ),
    "JSON of unclosed brackets, no content type": (
        "POST", "/api/embeddings", {"content": "[" * 1_000_000}, 400, "VALIDATION_ERROR",
    ),
    "a 500 KB file name": (
        "POST", "/api/embeddings",
        _multipart({"organization": "fuzz"}, {"images": ("n" * 500_000 + ".png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "a 256-character file name to compare": (
        "POST", "/api/face-compare",
        _multipart({"organization": "fuzz"}, {"image": ("n" * 252 + ".png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "organization . in a form": (
        "POST", "/api/embeddings", _multipart({"organization": "."}, {"images": ("a.png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "organization .. in a query": ("GET", "/api/uploads", {"params": {"organization": ".."}}, 400, "VALIDATION_ERROR"),
    "organization .. in the path, encoded": ("DELETE", "/api/organizations/%2E%2E", {}, 400, "VALIDATION_ERROR"),
    "organization . in a key's path, encoded": ("POST", "/api/organizations/%2E/keys", {}, 400, "VALIDATION_ERROR"),
    "organization ... in a query": (
        "GET", "/api/embeddings", {"params": {"organization": "..."}}, 400, "VALIDATION_ERROR",
    ),
    "a persons next_token of another organization's key": (
        "GET", "/api/persons",
        {"params": {"organization": "fuzz", "next_token": _unsigned({"pk": {"S": "ORG#x"}, "sk": {"S": "PER#a#1"}})}},
        400, "INVALID_PAGE_TOKEN",
    ),
    "faces=every to compare": (
        "POST", "/api/face-compare",
        _multipart({"organization": "fuzz", "faces": "every"}, {"image": ("a.png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "group_by=people to compare": (
        "POST", "/api/face-compare",
        _multipart({"organization": "fuzz", "group_by": "people"}, {"image": ("a.png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "quality_filter=strict to enroll": (
        "POST", "/api/embeddings",
        _multipart({"organization": "fuzz", "quality_filter": "strict"}, {"images": ("a.png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "on_duplicate=merge to enroll": (
        "POST", "/api/embeddings",
        _multipart({"organization": "fuzz", "on_duplicate": "merge"}, {"images": ("a.png", blank_image())}),
        400, "VALIDATION_ERROR",
    ),
    "on_duplicate as JSON true to an upload URL": (
        "POST", "/api/uploads",
        {"json": {"organization": "fuzz", "filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
                  "on_duplicate": True}},
        400, "VALIDATION_ERROR",
    ),
}


@pytest.mark.parametrize("case", CRAFTED, ids=list(CRAFTED))
def test_crafted_input_is_a_typed_4xx(local_stack, case):
    method, path, options, status, code = CRAFTED[case]
    headers = {"x-api-key": ADMIN_KEY, **options.get("headers", {})}
    body = {name: value for name, value in options.items() if name != "headers"}
    response = httpx.request(method, f"{local_stack.url}{path}", headers=headers, timeout=60, **body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text[:300]


# Any JSON, with DynamoDB's attribute names and type tags among the keys.
KEY_NAMES = st.sampled_from(["pk", "sk", "S", "N", "external_key"]) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEY_NAMES, children, max_size=4),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    start_key=JSON_VALUES,
    suffix=st.sampled_from(["", ".", ".c2ln", ".AAAA" * 11]),
    listing=st.sampled_from(["/api/embeddings", "/api/persons"]),
)
def test_any_page_token_the_api_did_not_issue_is_a_400(local_stack, start_key, suffix, listing):
    token = base64.urlsafe_b64encode(json.dumps(start_key).encode()).decode().rstrip("=") + suffix
    response = httpx.get(
        f"{local_stack.url}{listing}", params={"organization": "fuzz", "next_token": token},
        headers={"x-api-key": ADMIN_KEY}, timeout=60,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_PAGE_TOKEN"), token
