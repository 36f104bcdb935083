"""API keys: every protected route refuses other organizations' keys, through the real authorizer.

Requests go through the local gateway in process: the authorizer function decides who is
calling, as API Gateway would make it, and the functions decide which organization that caller
may touch. The probes are listed per route of template.yaml: a new route without a probe (and
so without a proven check) fails the suite.
"""

from __future__ import annotations

import time
import uuid

import pytest
from urllib3 import encode_multipart_formdata
from werkzeug.test import Client

from facematch.access import ADMIN, API_KEY_HEADER, KeyChecker
from facematch.aws import client as aws_client
from facematch.config import Settings
from facematch.errors import Unauthorized
from facematch.http import PUBLIC_ROUTES
from facematch.key_store import ApiKeys
from facematch_local.functions import InProcessFunctions
from facematch_local.gateway import LocalGateway
from facematch_testing.photos import blank_image
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
ADMIN_KEY = "test-admin-key"


def multipart(fields: dict, files: dict | None = None) -> dict:
    parts = list(fields.items()) + [(k, (k + ".jpg", v, "image/jpeg")) for k, v in (files or {}).items()]
    body, content_type = encode_multipart_formdata(parts)
    return {"data": body, "content_type": content_type}


# How to act on organization ORG through each protected route: (path, query, body).
PROBES = {
    ("POST", "/api/embeddings"): lambda org: ("/api/embeddings", {}, multipart({"organization": org}, {"images": blank_image("JPEG", (32, 32))})),
    ("GET", "/api/embeddings"): lambda org: ("/api/embeddings", {"organization": org}, {}),
    ("GET", "/api/persons"): lambda org: ("/api/persons", {"organization": org}, {}),
    ("DELETE", "/api/embeddings"): lambda org: ("/api/embeddings", {"organization": org, "external_id": "p"}, {}),
    ("GET", "/api/embeddings/{embed_id}"): lambda org: ("/api/embeddings/1", {"organization": org}, {}),
    ("DELETE", "/api/embeddings/{embed_id}"): lambda org: ("/api/embeddings/1", {"organization": org}, {}),
    ("POST", "/api/face-compare"): lambda org: ("/api/face-compare", {}, multipart({"organization": org}, {"image": blank_image("JPEG", (32, 32))})),
    ("DELETE", "/api/organizations/{organization}"): lambda org: (f"/api/organizations/{org}", {}, {}),
    ("GET", "/api/organizations/{organization}/calibration"): lambda org: (f"/api/organizations/{org}/calibration", {}, {}),
    ("POST", "/api/organizations/{organization}/keys"): lambda org: (f"/api/organizations/{org}/keys", {}, {}),
    ("DELETE", "/api/organizations/{organization}/keys/{key_id}"): lambda org: (f"/api/organizations/{org}/keys/0123456789ab", {}, {}),
    ("GET", "/api/uploads"): lambda org: ("/api/uploads", {"organization": org}, {}),
    ("GET", "/api/audit"): lambda org: ("/api/audit", {"organization": org}, {}),
    ("POST", "/api/duplicate-reports"): lambda org: ("/api/duplicate-reports", {}, {"json": {"organization": org}}),
    ("GET", "/api/duplicate-reports/{report_id}"): lambda org: (f"/api/duplicate-reports/{'A' * 32}", {"organization": org}, {}),
    ("DELETE", "/api/duplicate-reports/{report_id}"): lambda org: (f"/api/duplicate-reports/{'A' * 32}", {"organization": org}, {}),
    ("POST", "/api/uploads"): lambda org: (
        "/api/uploads", {}, multipart({"organization": org, "filename": "a.jpg", "content_type": "image/jpeg", "size": "10"})
    ),
}
# Routes that name no organization: any valid key may call them.
UNSCOPED = {("GET", "/api/openapi.json"), ("POST", "/api/sweeps")}
ADMIN_ONLY = {
    ("POST", "/api/organizations/{organization}/keys"),
    ("DELETE", "/api/organizations/{organization}/keys/{key_id}"),
    ("GET", "/api/audit"),
}


@pytest.fixture
def api(api_app, matching_app, authorizer_app):
    functions = InProcessFunctions(
        modules={"ApiFunction": api_app, "MatchingFunction": matching_app, "AuthorizerFunction": authorizer_app}
    )
    gateway = LocalGateway(functions)
    return gateway, Client(gateway)


def call(client: Client, method: str, path: str, query: dict, body: dict, key: str | None):
    headers = {API_KEY_HEADER: key} if key else {}
    response = client.open(path, method=method, query_string=query, headers=headers, **body)
    return response.status_code, response.get_json()


def create_key(client: Client, organization: str) -> str:
    status, body = call(client, "POST", f"/api/organizations/{organization}/keys", {}, {}, ADMIN_KEY)
    assert status == 201, body
    return body["api_key"]


def test_every_protected_route_in_the_template_has_an_isolation_probe(api):
    gateway, _ = api
    protected = {(r.method, r.resource) for r in gateway.routes if not r.public}
    assert protected == set(PROBES) | UNSCOPED, "a route without an isolation probe: add one to PROBES"
    assert {(r.method, r.resource) for r in gateway.routes if r.public} == set(PUBLIC_ROUTES)


def test_a_key_for_one_organization_is_refused_on_every_route_of_another(api):
    _, client = api
    alpha_key = create_key(client, "alpha")
    create_key(client, "beta")
    for route, probe in PROBES.items():
        path, query, body = probe("beta")
        status, response = call(client, route[0], path, query, body, alpha_key)
        assert (status, response["error"]["code"]) == (403, "FORBIDDEN"), route


def test_every_route_answers_the_same_with_a_trailing_slash_and_still_refuses_other_organizations(api):
    _, client = api
    create_key(client, "zeta")
    alpha_key = create_key(client, "alpha")
    for route, probe in PROBES.items():
        path, query, body = probe("zeta")
        plain = call(client, route[0], path, query, body, ADMIN_KEY)
        slashed = call(client, route[0], path + "/", query, body, ADMIN_KEY)
        code = (slashed[1].get("error") or {}).get("code")
        assert (slashed[0], code) == (plain[0], (plain[1].get("error") or {}).get("code")), (route, plain, slashed)
        assert code != "NOT_FOUND", route  # the route, not merely a missing item
        status, response = call(client, route[0], path + "/", query, body, alpha_key)
        assert (status, response["error"]["code"]) == (403, "FORBIDDEN"), route


def test_no_key_or_an_unknown_key_is_401_on_every_protected_route(api):
    _, client = api
    for route, probe in PROBES.items():
        path, query, body = probe("alpha")
        for key in (None, "fmk_000000000000_not-a-key"):
            status, response = call(client, route[0], path, query, body, key)
            assert (status, response["error"]["code"]) == (401, "UNAUTHORIZED"), (route, key)
    status, response = call(client, "GET", "/api/openapi.json", {}, {}, None)
    assert status == 401


def test_health_needs_no_key(api):
    _, client = api
    status, body = call(client, "GET", "/api/health", {}, {}, None)
    assert (status, body["status"]) == (200, "ok")


def test_a_jobs_status_needs_no_key_but_its_id(api):
    _, client = api
    status, body = call(client, "GET", "/api/jobs/" + "A" * 32, {}, {}, None)
    assert (status, body["error"]["code"]) == (404, "JOB_NOT_FOUND")


def test_an_organization_key_may_omit_the_organization_and_manage_only_its_own_data(api):
    _, client = api
    key = create_key(client, "gamma")
    photo = synthetic_photo("alice")
    status, body = call(client, "POST", "/api/embeddings", {}, multipart({}, {"images": photo}), key)
    assert (status, body["organization"]) == (201, "gamma")
    status, body = call(client, "POST", "/api/face-compare", {}, multipart({}, {"image": synthetic_photo("alice", 1)}), key)
    assert status == 200 and body["match"] is True
    status, body = call(client, "GET", "/api/embeddings", {"organization": "gamma"}, {}, key)
    assert status == 200 and len(body["embeddings"]) == 1
    for route in ADMIN_ONLY:
        path, query, body = PROBES[route]("gamma")
        status, response = call(client, route[0], path, query, body, key)
        assert (status, response["error"]["code"]) == (403, "FORBIDDEN"), route


def test_the_admin_key_must_name_the_organization(api):
    _, client = api
    status, body = call(client, "GET", "/api/embeddings", {}, {}, ADMIN_KEY)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_a_revoked_key_no_longer_authorizes(api, authorizer_app):
    gateway, client = api
    status, body = call(client, "POST", "/api/organizations/delta/keys", {}, {}, ADMIN_KEY)
    key, key_id = body["api_key"], body["key_id"]
    assert call(client, "GET", "/api/uploads", {}, {}, key)[0] == 200
    status, body = call(client, "DELETE", f"/api/organizations/delta/keys/{key_id}", {}, {}, ADMIN_KEY)
    assert (status, body["revoked"]) == (200, True)
    # API Gateway caches an authorizer's answer for its TTL; a new gateway has no cache.
    fresh = Client(LocalGateway(gateway.functions))
    assert call(fresh, "GET", "/api/uploads", {}, {}, key)[0] == 401


def test_a_rotated_admin_key_takes_effect_once_the_cached_one_is_older_than_its_max_age():
    name = f"/facematch/admin-key-{uuid.uuid4().hex}"
    aws_client("ssm").put_parameter(Name=name, Type="SecureString", Value="admin-key-before")
    settings = Settings(admin_key=None, admin_key_parameter=name, secret_max_age_seconds=1)
    checker = KeyChecker(settings, ApiKeys())
    assert checker.principal("admin-key-before").role == ADMIN
    aws_client("ssm").put_parameter(Name=name, Type="SecureString", Value="admin-key-after", Overwrite=True)
    time.sleep(1.2)
    assert checker.principal("admin-key-after").role == ADMIN
    with pytest.raises(Unauthorized):
        checker.principal("admin-key-before")


def test_keys_are_stored_only_as_hashes(api):
    import json as json_module

    from facematch.aws import client as aws_client

    _, client = api
    key = create_key(client, "epsilon")
    items = aws_client("dynamodb").scan(TableName="facematch-test")["Items"]
    assert key not in json_module.dumps(items)
    assert key.split("_", 2)[2] not in json_module.dumps(items)  # the secret (it may contain "_")


def test_only_the_admin_starts_a_sweep_and_its_status_url_answers(api):
    _, client = api
    organization_key = create_key(client, "org-sweeper-probe")
    status, body = call(client, "POST", "/api/sweeps", {}, {}, organization_key)
    assert status == 403, body
    status, body = call(client, "POST", "/api/sweeps", {}, {}, ADMIN_KEY)
    assert status == 202 and (body["kind"], body["organization"], body["state"]) == ("sweep", "*", "running")
    response = client.get(body["status_url"])
    assert response.status_code == 200 and response.get_json()["job_id"] == body["job_id"]


@pytest.mark.parametrize("how", ["revoked", "organization purged"])
def test_a_revoked_key_or_a_purged_organizations_key_works_at_most_authorizer_cache_seconds_more(
    api_app, matching_app, authorizer_app, how
):
    """Through the real authorizer and the table: the cached answer lasts the template's
    AuthorizerCacheSeconds (60 by default), then the key is a 401."""
    now = [1000.0]
    functions = InProcessFunctions(
        modules={"ApiFunction": api_app, "MatchingFunction": matching_app, "AuthorizerFunction": authorizer_app}
    )
    gateway = LocalGateway(functions, clock=lambda: now[0], rate_limits=False)
    client = Client(gateway)
    organization = f"org-{uuid.uuid4().hex[:8]}"
    status, created = call(client, "POST", f"/api/organizations/{organization}/keys", {}, {}, ADMIN_KEY)
    assert status == 201, created
    assert call(client, "GET", "/api/persons", {}, {}, created["api_key"])[0] == 200
    if how == "revoked":
        path = f"/api/organizations/{organization}/keys/{created['key_id']}"
    else:
        path = f"/api/organizations/{organization}"
    assert call(client, "DELETE", path, {}, {}, ADMIN_KEY)[0] == 200
    now[0] += gateway.authorizer.ttl_seconds - 1  # still the cached answer: API Gateway's bound, not less
    assert call(client, "GET", "/api/persons", {}, {}, created["api_key"])[0] != 401
    now[0] += 1
    status, body = call(client, "GET", "/api/persons", {}, {}, created["api_key"])
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
    assert gateway.authorizer.ttl_seconds == 60

