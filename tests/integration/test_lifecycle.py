"""Listing, labels, deletion, purge, top-k and the published OpenAPI contract."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import InvalidPageToken
from facematch.inputs import ImageInput
from facematch.openapi import document
from facematch.page_tokens import PageTokens
from facematch.shards import ShardStore
from facematch.wiring import FaceMatch
from facematch_local.openapi import generate, render
from facematch_testing import api
from facematch_testing.aws import stored_ids, versions
from facematch_testing.events import OPERATOR
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]
TABLE = os.environ["FACEMATCH_TABLE"]


def request(app, context, method, path, query=None, path_parameters=None):
    return api.request(app, context, method, path, query, path_parameters)


def enroll(app, context, organization, photos, external_id=None):
    return api.enrolled_ids(app, context, organization, photos, **({"external_id": external_id} if external_id else {}))


def compare(app, context, organization, photo, top_k=None):
    return api.compare(app, context, organization, photo, **({"top_k": top_k} if top_k else {}))


def shots(person, variants):
    return [shot(person, variant) for variant in variants]


def shot(person, variant=0):
    return f"{person}-{variant}.jpg", synthetic_photo(person, variant)


def test_embeddings_are_listed_page_by_page_filtered_by_label_and_fetched_one_by_one(
    api_app, lambda_context, organization
):
    angelina = enroll(api_app, lambda_context, organization, shots("angelina", range(0, 3)), "person-angelina")
    jennifer = enroll(api_app, lambda_context, organization, shots("jennifer", range(0, 2)), "person-jennifer")

    seen, token = [], None
    while True:
        query = {"organization": organization, "limit": "2"} | ({"next_token": token} if token else {})
        status, page = request(api_app, lambda_context, "GET", "/api/embeddings", query)
        assert status == 200, page
        assert len(page["embeddings"]) <= 2
        assert all("embedding" not in e for e in page["embeddings"])
        seen += page["embeddings"]
        token = page.get("next_token")
        if not token:
            break
    assert [e["embed_id"] for e in seen] == angelina + jennifer

    status, page = request(
        api_app, lambda_context, "GET", "/api/embeddings",
        {"organization": organization, "external_id": "person-jennifer"},
    )
    assert [e["embed_id"] for e in page["embeddings"]] == jennifer

    status, one = request(
        api_app, lambda_context, "GET", f"/api/embeddings/{angelina[1]}", {"organization": organization},
        {"embed_id": str(angelina[1])},
    )
    assert status == 200
    assert (one["embed_id"], one["external_id"], one["source"]) == (angelina[1], "person-angelina", "angelina-1.jpg")
    assert one["image_stored"] is False

    status, body = request(
        api_app, lambda_context, "GET", "/api/embeddings/999", {"organization": organization}, {"embed_id": "999"}
    )
    assert (status, body["error"]["code"]) == (404, "EMBEDDING_NOT_FOUND")


def _unsigned(value) -> str:
    """A start key as base64 JSON: what anyone can write, and what page tokens once were."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


# name: (token for organization ORG, listing filter)
FORGED_TOKENS = {
    "not base64": (lambda org: "garbage!", None),
    "another organization's start key": (lambda org: _unsigned({"pk": {"S": "ORG#other"}, "sk": {"S": "EMB#1"}}), None),
    "wrong types inside": (lambda org: _unsigned({"pk": {"S": 123}}), None),
    "this organization's key, a number where a string goes": (
        lambda org: _unsigned(
            {"pk": {"S": 123}, "sk": {"S": "EMB#000000000001"}, "external_key": {"S": f"ORG#{org}#EXT#p"}}
        ),
        "p",
    ),
    "a list where a string goes": (lambda org: _unsigned({"pk": {"S": f"ORG#{org}"}, "sk": {"S": ["EMB#1"]}}), None),
    "JSON nested 3000 deep": (lambda org: base64.urlsafe_b64encode(b"[" * 3000).decode(), None),
    "a payload and no signature": (
        lambda org: _unsigned({"pk": {"S": f"ORG#{org}"}, "sk": {"S": "EMB#1"}}) + ".", None
    ),
    "a signature of the wrong size": (lambda org: _unsigned({}) + ".c2lnbmF0dXJl", None),
    "only a dot": (lambda org: ".", None),
}


@pytest.mark.parametrize("case", FORGED_TOKENS, ids=list(FORGED_TOKENS))
def test_a_page_token_the_api_did_not_sign_is_refused_with_a_typed_400(
    api_app, lambda_context, organization, case
):
    token, external_id = FORGED_TOKENS[case]
    query = {"organization": organization, "next_token": token(organization)}
    query |= {"external_id": external_id} if external_id else {}
    status, body = request(api_app, lambda_context, "GET", "/api/embeddings", query)
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN"), body


def test_a_page_token_continues_only_the_listing_it_was_issued_for(
    api_app, lambda_context, organization
):
    enroll(api_app, lambda_context, organization, shots("angelina", [0, 1]), "p")
    status, page = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "limit": "1"})
    token = page["next_token"]
    elsewhere = [
        {"organization": f"{organization}-other"},  # another organization
        {"organization": organization, "external_id": "p"},  # one person's listing
    ]
    for query in elsewhere:
        status, body = request(api_app, lambda_context, "GET", "/api/embeddings", query | {"next_token": token})
        assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN"), query
    tampered = token[:4] + ("B" if token[4] == "A" else "A") + token[5:]
    status, body = request(
        api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "next_token": tampered}
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN")
    status, body = request(
        api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "next_token": token}
    )
    assert (status, len(body["embeddings"]), body.get("next_token")) == (200, 1, None)


def test_page_tokens_are_signed_with_the_key_held_in_ssm(organization):
    name = f"/facematch/page-token-secret-{uuid.uuid4().hex}"
    client("ssm").put_parameter(Name=name, Type="SecureString", Value="a-key-from-ssm")
    tokens = PageTokens(Settings(page_token_secret=None, page_token_secret_parameter=name))
    last_key = {"pk": {"S": f"ORG#{organization}"}, "sk": {"S": "EMB#000000000002"}}
    token = tokens.issue(last_key, organization, None)
    assert tokens.start_key(token, organization, None) == last_key
    with pytest.raises(InvalidPageToken):
        PageTokens(Settings(page_token_secret="another-key")).start_key(token, organization, None)


def test_a_deleted_embedding_is_never_matched_again_even_by_a_warm_comparison_function(
    api_app, matching_app, lambda_context, organization
):
    (first,) = enroll(api_app, lambda_context, organization, shots("angelina", [0]), "person-angelina")
    others = enroll(api_app, lambda_context, organization, [shot("jennifer"), shot("jack")])
    status, before = compare(matching_app, lambda_context, organization, shot("angelina", 1))
    assert (status, before["embed_id"], before["match"]) == (200, first, True)  # shards now cached

    status, deleted = request(
        api_app, lambda_context, "DELETE", f"/api/embeddings/{first}", {"organization": organization},
        {"embed_id": str(first)},
    )
    assert status == 200, deleted
    assert [e["embed_id"] for e in deleted["deleted"]] == [first]

    status, after = compare(matching_app, lambda_context, organization, shot("angelina", 1), top_k=100)
    assert status == 200
    assert first not in [m["embed_id"] for m in after["matches"]]
    assert sorted(m["embed_id"] for m in after["matches"]) == sorted(others)
    assert stored_ids(organization) == sorted(others)  # physically gone, all versions
    status, _ = request(
        api_app, lambda_context, "DELETE", f"/api/embeddings/{first}", {"organization": organization},
        {"embed_id": str(first)},
    )
    assert status == 404


def test_deleting_by_external_id_removes_every_embedding_of_that_person(
    api_app, matching_app, lambda_context, organization
):
    angelina = enroll(api_app, lambda_context, organization, shots("angelina", range(0, 2)), "person-angelina")
    angelina += enroll(api_app, lambda_context, organization, shots("angelina", range(2, 4)), "person-angelina")
    jennifer = enroll(api_app, lambda_context, organization, shots("jennifer", range(0, 1)), "person-jennifer")
    compare(matching_app, lambda_context, organization, shot("angelina", 5))  # warm the cache

    status, deleted = request(
        api_app, lambda_context, "DELETE", "/api/embeddings",
        {"organization": organization, "external_id": "person-angelina"},
    )
    assert status == 200, deleted
    assert len(deleted["deleted"]) == 4 and {e["external_id"] for e in deleted["deleted"]} == {"person-angelina"}
    status, result = compare(matching_app, lambda_context, organization, shot("angelina", 5), top_k=10)
    assert [m["embed_id"] for m in result["matches"]] == jennifer
    assert result["match"] is False
    assert stored_ids(organization) == jennifer
    status, listing = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    assert [e["embed_id"] for e in listing["embeddings"]] == jennifer
    for embed_id in angelina:
        status, body = request(
            api_app, lambda_context, "GET", f"/api/embeddings/{embed_id}", {"organization": organization},
            {"embed_id": str(embed_id)},
        )
        assert (status, body["error"]["code"]) == (404, "EMBEDDING_NOT_FOUND")


def test_purging_an_organization_leaves_nothing_of_it_and_spares_the_others(
    api_app, matching_app, lambda_context, organization
):
    from facematch_local.queues import sqs_event
    from facematch_local.resources import create_resources

    enroll(api_app, lambda_context, organization, [shot("angelina"), shot("jennifer")], "someone")
    enroll(api_app, lambda_context, "bystander", [shot("angelina")], "someone")
    client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{organization}/drop.jpg", Body=shot("angelina", 2)[1])
    client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{organization}/left-over.jpg", Body=b"x")
    queue = create_resources(BUCKET, TABLE)["UploadQueue"]
    messages = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    api_app.lambda_handler(sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q"), lambda_context)
    compare(matching_app, lambda_context, organization, shot("angelina", 1))  # warm the cache

    status, body = request(
        api_app, lambda_context, "DELETE", f"/api/organizations/{organization}", None, {"organization": organization}
    )
    assert status == 200, body

    # What stays: the manifest saying "purged" (it names nothing), and the id counter, so that
    # an id never names a second face.
    assert versions(f"uploads/{organization}/") == []
    assert [v["Key"] for v in versions(f"orgs/{organization}/") if v["IsLatest"]] == [f"orgs/{organization}/manifest.json"]
    manifest = json.loads(client("s3").get_object(Bucket=BUCKET, Key=f"orgs/{organization}/manifest.json")["Body"].read())
    assert (manifest["state"], manifest["models"], manifest["committed"]) == ("purged", {}, [])
    items = client("dynamodb").scan(TableName=TABLE)["Items"]
    assert [item["sk"]["S"] for item in items if organization in json.dumps(item)] == ["COUNTER"]
    assert any(item["pk"]["S"] == "ORG#bystander" for item in items)
    status, result = compare(matching_app, lambda_context, organization, shot("angelina", 1))
    assert (status, result["error"]["code"]) == (404, "ORGANIZATION_NOT_FOUND")
    status, result = compare(matching_app, lambda_context, "bystander", shot("angelina", 1))
    assert status == 200 and result["match"] is True


def test_top_k_returns_the_best_matches_best_first_with_the_best_at_the_top_level(
    api_app, matching_app, lambda_context, organization
):
    enroll(api_app, lambda_context, organization, shots("angelina", range(0, 3)), "angelina")
    enroll(api_app, lambda_context, organization, shots("mark", range(0, 2)), "mark")
    status, result = compare(matching_app, lambda_context, organization, shot("angelina", 4), top_k=4)
    assert status == 200
    matches = result["matches"]
    assert len(matches) == 4
    assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)
    assert {k: result[k] for k in matches[0]} == matches[0]
    assert [m["external_id"] for m in matches[:3]] == ["angelina"] * 3
    for bad in ("0", "101", "many"):
        status, body = compare(matching_app, lambda_context, organization, shot("angelina", 4), top_k=bad)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize("customer_key", [False, True], ids=["s3-managed", "customer-managed-kms-key"])
def test_with_store_images_the_photo_is_kept_encrypted_with_the_buckets_key_and_deleted_with_its_embedding(
    api_app, organization, customer_key
):
    """The bucket's default encryption, as template.yaml sets it: SSE-S3, or KmsKeyArn's key."""
    key_arn = client("kms").create_key()["KeyMetadata"]["Arn"] if customer_key else None
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn} if customer_key else {"SSEAlgorithm": "AES256"}
    client("s3").put_bucket_encryption(
        Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    )
    base = api_app.service
    service = FaceMatch(
        Settings(bucket=BUCKET, table=TABLE, store_images=True), base.embedder, Catalog(TABLE), ShardStore(BUCKET)
    )
    photo = synthetic_photo("angelina")
    (embedding,) = service.enrollment.enroll(organization, [ImageInput("img1.jpg", photo)]).embeddings
    stored = service.holdings.get_embedding(organization, embedding.embed_id)
    assert stored.image_stored is True
    key = f"orgs/{organization}/g1/images/{embedding.embed_id}"
    head = client("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == default["SSEAlgorithm"] and head.get("SSEKMSKeyId") == key_arn
    assert client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == photo

    service.holdings.delete_embedding(organization, embedding.embed_id, OPERATOR)
    assert versions(key) == []


def test_by_default_no_photo_is_kept(api_app, organization):
    api_app.service.enrollment.enroll(organization, [ImageInput("img1.jpg", synthetic_photo("angelina"))])
    keys = [v["Key"] for v in versions(f"orgs/{organization}/")]
    assert keys and all(key.endswith((".npy", "manifest.json")) for key in keys)


def test_the_committed_openapi_document_is_what_the_code_generates_and_what_is_served(
    api_app, matching_app, lambda_context
):
    from facematch_local.functions import InProcessFunctions
    from facematch_local.gateway import LocalGateway

    functions = InProcessFunctions(
        modules={"ApiFunction": api_app, "MatchingFunction": matching_app}
    )
    gateway = LocalGateway(functions)
    generated = render(generate(functions))
    assert document() == json.loads(generated), "openapi.json is out of date: run make openapi"
    status, served = request(api_app, lambda_context, "GET", "/api/openapi.json")
    assert status == 200 and served == document()
    template_routes = {(r.method.lower(), r.resource) for r in gateway.routes}
    documented_routes = {(m, p) for p, ops in served["paths"].items() for m in ops}
    assert template_routes == documented_routes
