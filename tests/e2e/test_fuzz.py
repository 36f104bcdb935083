"""Property-based fuzzing of the local stack against the OpenAPI document it serves.

Schemathesis generates requests for every documented operation (schema examples, coverage
of each constraint's edges, valid and invalid data) with the admin key, and every response
must be no server error, with a documented status code, content type and body schema.
The run is bounded and seeded, so it takes a few minutes and finds the same cases every time.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from facematch_testing.stack import ADMIN_KEY

# One stack for the module under `--dist loadgroup`.
pytestmark = [pytest.mark.model, pytest.mark.xdist_group("fuzz")]

# Per operation and generation mode (valid, invalid data); coverage cases come on top.
MAX_EXAMPLES = 200
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
