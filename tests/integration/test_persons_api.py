"""GET /api/persons: the persons an organization holds, a page at a time, on the stub networks."""

from __future__ import annotations

import pytest

from facematch_testing.api import enrolled_ids, request
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def faces(person: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"{person}-{v}.jpg", synthetic_photo(person, v)) for v in range(count)]


def persons(app, context, organization: str, **query: str) -> tuple[int, dict]:
    return request(app, context, "GET", "/api/persons", {"organization": organization, **query})


def enroll_people(api_app, lambda_context, organization) -> None:
    enrolled_ids(api_app, lambda_context, organization, faces("bob", 2), external_id="bob")
    enrolled_ids(api_app, lambda_context, organization, faces("alice", 3), external_id="alice")
    enrolled_ids(api_app, lambda_context, organization, faces("carol", 1))  # unlabelled: no person
    enrolled_ids(api_app, lambda_context, organization, faces("alice", 1), external_id="alice")


def test_persons_are_listed_in_name_order_with_their_faces_and_enrollment_times(api_app, lambda_context, organization):
    enroll_people(api_app, lambda_context, organization)
    status, body = persons(api_app, lambda_context, organization)
    assert status == 200, body
    assert [(p["external_id"], p["faces"]) for p in body["persons"]] == [("alice", 4), ("bob", 2)]
    _, held = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    times = {}
    for embedding in held["embeddings"]:
        times.setdefault(embedding.get("external_id"), []).append(embedding["created_at"])
    for person in body["persons"]:
        assert (person["first_enrolled_at"], person["last_enrolled_at"]) == (
            min(times[person["external_id"]]), max(times[person["external_id"]])
        )
    assert body["next_token"] is None


def test_pages_split_between_persons_never_inside_one(api_app, lambda_context, organization):
    enroll_people(api_app, lambda_context, organization)
    enrolled_ids(api_app, lambda_context, organization, faces("dave", 2), external_id="dave")
    seen, token = [], None
    for _ in range(5):
        _, page = persons(api_app, lambda_context, organization, limit="1", **({"next_token": token} if token else {}))
        seen += [(p["external_id"], p["faces"]) for p in page["persons"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen == [("alice", 4), ("bob", 2), ("dave", 2)]


def test_erased_faces_and_persons_leave_the_list(api_app, lambda_context, organization):
    enroll_people(api_app, lambda_context, organization)
    status, _ = request(
        api_app, lambda_context, "DELETE", "/api/embeddings", {"organization": organization, "external_id": "bob"}
    )
    assert status == 200
    _, held = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "external_id": "alice"})
    first = held["embeddings"][0]["embed_id"]
    status, _ = request(
        api_app, lambda_context, "DELETE", f"/api/embeddings/{first}", {"organization": organization},
        {"embed_id": str(first)},
    )
    assert status == 200
    _, body = persons(api_app, lambda_context, organization)
    assert [(p["external_id"], p["faces"]) for p in body["persons"]] == [("alice", 3)]


def test_a_persons_token_is_refused_by_another_listing_and_a_listing_s_token_by_persons(
    api_app, lambda_context, organization
):
    enroll_people(api_app, lambda_context, organization)
    _, page = persons(api_app, lambda_context, organization, limit="1")
    status, body = request(
        api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "next_token": page["next_token"]}
    )
    assert status == 400 and body["error"]["code"] == "INVALID_PAGE_TOKEN"
    _, listing = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization, "limit": "1"})
    status, body = persons(api_app, lambda_context, organization, next_token=listing["next_token"])
    assert status == 400 and body["error"]["code"] == "INVALID_PAGE_TOKEN"


def test_an_organization_without_persons_lists_none(api_app, lambda_context, organization):
    status, body = persons(api_app, lambda_context, organization)
    assert status == 200 and body == {"organization": organization, "persons": [], "next_token": None}
