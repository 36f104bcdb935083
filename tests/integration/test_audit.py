"""The audit trail: key creation and revocation, deletions and purges, with who, when and what;
kept apart from the data it describes, read by the admin key only."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from facematch.audit_store import AuditStore
from facematch.aws import client
from facematch.config import default_audit_table
from facematch_testing.api import enrolled_ids, invoke, request
from facematch_testing.aws import all_items
from facematch_testing.events import api_event, organization_key
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
AUDIT_TABLE = default_audit_table(os.environ["FACEMATCH_TABLE"])


def photos(*names: str) -> list[tuple[str, bytes]]:
    return [(f"{name}.jpg", synthetic_photo(name)) for name in names]


def trail(api_app, context, organization: str, **query: str) -> dict:
    status, body = request(api_app, context, "GET", "/api/audit", {"organization": organization, **query})
    assert status == 200, body
    return body


def actions(api_app, context, organization: str) -> list[tuple]:
    """(action, actor, what) of each record, oldest first."""
    records = trail(api_app, context, organization, limit="1000")["records"]
    return [
        (r["action"], r["actor"], r.get("key_id") or r.get("embed_ids") or r.get("faces")) for r in reversed(records)
    ]


def create_key(api_app, context, organization: str) -> str:
    path = f"/api/organizations/{organization}/keys"
    status, body = request(api_app, context, "POST", path, path_parameters={"organization": organization})
    assert status == 201, body
    return body["key_id"]


def audit_items() -> list[dict]:
    return client("dynamodb").scan(TableName=AUDIT_TABLE)["Items"]


def test_keys_created_and_revoked_are_recorded_with_the_admin_as_who_and_the_key_id_as_what(
    api_app, lambda_context, organization
):
    first, second = create_key(api_app, lambda_context, organization), create_key(api_app, lambda_context, organization)
    path = f"/api/organizations/{organization}/keys/{first}"
    status, _ = request(api_app, lambda_context, "DELETE", path, path_parameters={"organization": organization, "key_id": first})
    assert status == 200
    assert actions(api_app, lambda_context, organization) == [
        ("key.created", "admin", first), ("key.created", "admin", second), ("key.revoked", "admin", first),
    ]
    newest = trail(api_app, lambda_context, organization)["records"][0]
    assert newest["request_id"] == "00000000-0000-0000-0000-000000000001"  # API Gateway's, as the logs give it
    assert newest["at"].endswith("Z")


def test_deletions_record_the_callers_key_id_and_the_embed_ids_taken_but_never_the_label(
    api_app, lambda_context, organization
):
    ann = enrolled_ids(api_app, lambda_context, organization, photos("ann", "ann-2"), external_id="person:ann-example")
    (bob,) = enrolled_ids(api_app, lambda_context, organization, photos("bob"))
    own_key = organization_key(organization)
    event = api_event("DELETE", f"/api/embeddings/{bob}", {}, {"embed_id": str(bob)}, own_key)
    assert invoke(api_app, event, lambda_context)[0] == 200
    event = api_event("DELETE", "/api/embeddings", {"external_id": "person:ann-example"}, None, own_key)
    assert invoke(api_app, event, lambda_context)[0] == 200
    assert actions(api_app, lambda_context, organization) == [
        ("embedding.deleted", own_key["key_id"], [bob]), ("person.deleted", own_key["key_id"], sorted(ann)),
    ]
    assert "person:ann-example" not in str(audit_items())


def test_a_purge_is_recorded_with_the_faces_held_and_its_record_outlives_the_purge(api_app, lambda_context, organization):
    create_key(api_app, lambda_context, organization)
    enrolled_ids(api_app, lambda_context, organization, photos("ann", "bob", "cy"))
    path = f"/api/organizations/{organization}"
    status, body = request(api_app, lambda_context, "DELETE", path, path_parameters={"organization": organization})
    assert (status, body["status"]) == (200, "purged")
    assert not [item for item in all_items() if item["pk"]["S"] == f"ORG#{organization}" and item["sk"]["S"].startswith("EMB#")]
    assert [a for a, _, _ in actions(api_app, lambda_context, organization)] == ["key.created", "organization.purged"]
    assert actions(api_app, lambda_context, organization)[-1] == ("organization.purged", "admin", 3)


def test_only_the_admin_key_reads_the_trail_not_even_the_organizations_own_key(api_app, lambda_context, organization):
    event = api_event("GET", "/api/audit", {"organization": organization}, None, organization_key(organization))
    status, body = invoke(api_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


def test_the_trail_pages_newest_first_with_tokens_signed_for_its_organization(api_app, lambda_context, organization):
    created = [create_key(api_app, lambda_context, organization) for _ in range(5)]
    seen, token = [], None
    while True:
        page = trail(api_app, lambda_context, organization, limit="2", **({"next_token": token} if token else {}))
        seen += [record["key_id"] for record in page["records"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == created[::-1]
    first = trail(api_app, lambda_context, organization, limit="2")
    status, body = request(
        api_app, lambda_context, "GET", "/api/audit", {"organization": f"{organization}-x", "next_token": first["next_token"]}
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN")


def test_a_key_is_never_created_or_revoked_without_its_record(api_app, lambda_context, organization, monkeypatch):
    """The record is a write of the key's own transaction: when it cannot be written, nor is the key."""
    key_id = create_key(api_app, lambda_context, organization)
    put_request = AuditStore.put_request

    def into_a_missing_table(self, *args, **kwargs):
        put = put_request(self, *args, **kwargs)
        put["Put"]["TableName"] = "no-such-table"
        return put

    monkeypatch.setattr(AuditStore, "put_request", into_a_missing_table)
    keys_before = [i for i in all_items() if i["sk"]["S"].startswith("APIKEY#") or i["pk"]["S"].startswith("KEY#")]
    path = f"/api/organizations/{organization}/keys"
    status, _ = request(api_app, lambda_context, "POST", path, path_parameters={"organization": organization})
    assert status == 500
    path = f"/api/organizations/{organization}/keys/{key_id}"
    status, _ = request(api_app, lambda_context, "DELETE", path, path_parameters={"organization": organization, "key_id": key_id})
    assert status == 500
    monkeypatch.undo()
    assert [i for i in all_items() if i["sk"]["S"].startswith("APIKEY#") or i["pk"]["S"].startswith("KEY#")] == keys_before
    assert [a for a, _, _ in actions(api_app, lambda_context, organization)] == ["key.created"]


def test_a_deletion_whose_record_cannot_be_written_deletes_nothing(api_app, lambda_context, organization, monkeypatch):
    (ann,) = enrolled_ids(api_app, lambda_context, organization, photos("ann"))

    def unavailable(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "PutItem")

    monkeypatch.setattr(AuditStore, "add", unavailable)
    status, _ = request(api_app, lambda_context, "DELETE", f"/api/embeddings/{ann}", {"organization": organization}, {"embed_id": str(ann)})
    assert status == 500
    monkeypatch.undo()
    status, body = request(api_app, lambda_context, "GET", f"/api/embeddings/{ann}", {"organization": organization}, {"embed_id": str(ann)})
    assert status == 200, body


def test_records_expire_after_the_retention_and_the_functions_never_change_one(api_app, lambda_context, organization):
    create_key(api_app, lambda_context, organization)
    (item,) = [i for i in audit_items() if i["pk"]["S"] == f"ORG#{organization}"]
    days = api_app.service.settings.audit_retention_days
    created = int(item["expiration"]["N"]) - days * 24 * 3600
    assert abs(created - api_app.service.clock()) < 60
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):  # a record is never overwritten
        AuditStore(AUDIT_TABLE).add(organization, item["sk"]["S"], {"action": "key.created"}, 0)

