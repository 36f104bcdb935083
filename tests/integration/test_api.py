"""The two Lambda handlers under moto: every route's contract, on the stub face networks."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from facematch_testing.api import compare, enroll, enrolled_ids, invoke
from facematch_testing.events import api_event, json_event, load_event, multipart_event, with_body
from facematch_testing.photos import blank_image
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")


def face(person: str, variant: int = 0, **options) -> tuple[str, bytes]:
    return f"{person}-{variant}.jpg", synthetic_photo(person, variant, **options)


def test_each_enrolled_person_is_identified_with_the_documented_fields(
    api_app, matching_app, lambda_context, organization
):
    owner = {}
    for person in ("alice", "bob", "carol"):
        status, body = enroll(api_app, lambda_context, organization, [face(person, 0), face(person, 1)])
        assert status == 201, body
        assert body["failed"] == []
        for embedding in body["embeddings"]:
            assert embedding["organization"] == organization
            assert embedding["model"] == "Dlib"
            assert embedding["created_at"].endswith("Z")
            assert set(embedding["face"]) == {"x", "y", "w", "h", "confidence"}
            assert "embedding" not in embedding
            owner[embedding["embed_id"]] = person
    assert sorted(owner) == list(range(1, 7))
    for person in ("alice", "bob", "carol"):
        status, body = compare(matching_app, lambda_context, organization, face(person, 2))
        assert status == 200, body
        assert owner[body["embed_id"]] == person
        assert body["match"] is True
        assert body["threshold"] == 0.07
        assert body["similarity_score"] == pytest.approx(1 - body["distance"])


def test_a_person_who_was_not_enrolled_does_not_match(api_app, matching_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [face("alice"), face("bob")])
    status, body = compare(matching_app, lambda_context, organization, face("mallory"))
    assert status == 200
    assert body["match"] is False
    assert body["distance"] > body["threshold"]


def test_a_request_threshold_overrides_the_models_default(api_app, matching_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    status, body = compare(matching_app, lambda_context, organization, face("bob"), threshold=1.5)
    assert status == 200
    assert body["threshold"] == 1.5
    assert body["match"] is True


def test_a_distance_equal_to_the_threshold_is_a_match_and_one_just_above_is_not(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice", 0)])
    _, first = compare(matching_app, lambda_context, organization, face("alice", 1))
    distance = first["distance"]
    assert 0 < distance < 0.07
    _, at = compare(matching_app, lambda_context, organization, face("alice", 1), threshold=distance)
    _, below = compare(matching_app, lambda_context, organization, face("alice", 1), threshold=distance - 1e-6)
    assert (at["distance"], at["match"]) == (distance, True)
    assert (below["distance"], below["match"]) == (distance, False)
    assert [m["match"] for m in at["matches"]] == [True]


def test_several_images_enroll_in_one_request_and_bad_ones_are_listed_as_failed(
    api_app, lambda_context, organization
):
    files = [face("alice"), ("notes.jpg", b"not an image"), ("wall.png", blank_image())]
    status, body = enroll(api_app, lambda_context, organization, files)
    assert status == 201
    assert [e["image"] for e in body["embeddings"]] == ["alice-0.jpg"]
    assert {f["image"]: f["error"]["code"] for f in body["failed"]} == {
        "notes.jpg": "INVALID_IMAGE",
        "wall.png": "NO_FACE_DETECTED",
    }


def test_the_original_two_file_curl_request_enrolls_both(api_app, lambda_context, organization):
    status, body = enroll(api_app, lambda_context, organization, [face("alice"), face("bob")])
    assert status == 201
    assert [e["embed_id"] for e in body["embeddings"]] == [1, 2]
    assert body["failed"] == []


def test_the_answer_keeps_the_original_apps_top_level_fields_from_the_first_enrolled_embedding(
    api_app, lambda_context, organization
):
    status, body = enroll(api_app, lambda_context, organization, [("bad.jpg", b"x"), face("alice"), face("bob")])
    assert status == 201
    first = body["embeddings"][0]
    assert (body["organization"], body["embed_id"], body["created_at"]) == (organization, first["embed_id"], first["created_at"])
    assert "embedding" not in body
    status, body = enroll(api_app, lambda_context, organization, [face("carol")], include_embedding="true")
    assert body["embed_id"] == body["embeddings"][0]["embed_id"] == 3
    assert body["embedding"] == body["embeddings"][0]["embedding"] and len(body["embedding"]) == 128


def test_the_largest_face_is_enrolled_and_the_count_reported(
    api_app, matching_app, lambda_context, organization
):
    status, body = enroll(api_app, lambda_context, organization, [face("alice", faces=3)])
    assert status == 201
    (embedding,) = body["embeddings"]
    assert embedding["faces_in_image"] == 3
    _, match = compare(matching_app, lambda_context, organization, face("alice", 1))
    assert match["match"] is True


def test_the_face_box_is_in_the_full_photos_pixels_though_detection_ran_on_a_small_copy(
    api_app, lambda_context, organization
):
    status, body = enroll(api_app, lambda_context, organization, [face("alice", size=(1600, 1200))])
    assert status == 201
    # synthetic_photo draws the face at (width / 8, height / 4), half the short side wide.
    assert body["embeddings"][0]["face"] == {"x": 200, "y": 300, "w": 600, "h": 600, "confidence": 1.0}


def test_the_vector_is_returned_only_when_asked_for(api_app, lambda_context, organization):
    status, body = enroll(api_app, lambda_context, organization, [face("alice")], include_embedding="true")
    assert status == 201
    vector = np.asarray(body["embeddings"][0]["embedding"])
    assert vector.shape == (128,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    status, body = enroll(api_app, lambda_context, organization, [face("alice")])
    assert "embedding" not in body["embeddings"][0]


def test_json_bodies_with_base64_images_enroll_and_compare(
    api_app, matching_app, lambda_context, organization
):
    encoded = base64.b64encode(face("alice")[1]).decode()
    status, body = invoke(
        api_app, json_event("enroll-json.json", {"organization": organization, "images": [encoded]}), lambda_context
    )
    assert status == 201, body
    assert body["embeddings"][0]["image"] == "0"
    query = base64.b64encode(face("alice", 1)[1]).decode()
    status, result = invoke(
        matching_app, json_event("compare-json.json", {"organization": organization, "image": query}), lambda_context
    )
    assert status == 200, result
    assert result["embed_id"] == body["embeddings"][0]["embed_id"]
    assert result["match"] is True


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ([("wall.png", blank_image())], 422, "NO_FACE_DETECTED"),
        ([("notes.jpg", b"plain text, not a photo")], 400, "INVALID_IMAGE"),
        ([("anim.gif", blank_image("GIF"))], 415, "UNSUPPORTED_IMAGE_FORMAT"),
        ([("wall.png", blank_image()), ("anim.gif", blank_image("GIF"))], 422, "NOTHING_ENROLLED"),
    ],
)
def test_an_enrollment_with_nothing_enrollable_answers_the_shared_reason_or_422(
    api_app, lambda_context, organization, files, status, code
):
    got_status, body = enroll(api_app, lambda_context, organization, files)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert len(body["failed"]) == len(files)
    assert body["embeddings"] == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (blank_image(), 422, "NO_FACE_DETECTED"),
        (b"plain text, not a photo", 400, "INVALID_IMAGE"),
        (b"", 400, "INVALID_IMAGE"),
    ],
)
def test_a_bad_query_photo_gets_its_typed_error(
    api_app, matching_app, lambda_context, organization, content, status, code
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    got_status, body = compare(matching_app, lambda_context, organization, ("query.jpg", content))
    assert (got_status, body["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    "organization_name", ["", "has space", "slash/name", "x" * 65, "ünïcode", ".", "..", "...", ".hidden", "-rf"]
)
def test_a_malformed_organization_is_a_validation_error(
    api_app, matching_app, lambda_context, organization_name
):
    status, body = enroll(api_app, lambda_context, organization_name, [face("alice")])
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    status, body = compare(matching_app, lambda_context, organization_name, face("alice"))
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


# Each route that names an organization, given the organization ORG (method, path, query, path parameters).
ORGANIZATION_ROUTES = {
    "list": lambda org: ("GET", "/api/embeddings", {"organization": org}, None),
    "delete a person": lambda org: ("DELETE", "/api/embeddings", {"organization": org, "external_id": "p"}, None),
    "get one": lambda org: ("GET", "/api/embeddings/1", {"organization": org}, {"embed_id": "1"}),
    "uploads": lambda org: ("GET", "/api/uploads", {"organization": org}, None),
    "purge": lambda org: ("DELETE", f"/api/organizations/{org}", None, {"organization": org}),
    "create a key": lambda org: ("POST", f"/api/organizations/{org}/keys", None, {"organization": org}),
}


# The core trusts the organization it is given: each route's pattern is the only check. "." and
# "..": S3 keys and URLs would read orgs/../ as the folder above; "acme\n": Python's $ would pass it.
MALFORMED_ORGANIZATIONS = [".", "..", "acme\n", "x" * 65, "has space", "slash/name", "ａｃｍｅ", "acme٣", "-rf"]


@pytest.mark.parametrize("organization_name", MALFORMED_ORGANIZATIONS, ids=repr)
@pytest.mark.parametrize("route", ORGANIZATION_ROUTES, ids=list(ORGANIZATION_ROUTES))
def test_a_malformed_organization_is_refused_on_every_route(api_app, lambda_context, route, organization_name):
    method, path, query, path_parameters = ORGANIZATION_ROUTES[route](organization_name)
    status, body = invoke(api_app, api_event(method, path, query, path_parameters), lambda_context)
    # In the path, a slash or a newline makes another path: no route at all.
    no_route = organization_name in path and ("/" in organization_name or "\n" in organization_name)
    assert (status, body["error"]["code"]) == ((404, "NOT_FOUND") if no_route else (400, "VALIDATION_ERROR")), body


# Python's JSON parser recurses once per level: deep enough, it exhausts the stack.
NESTED_BODIES = {
    "arrays 100000 deep as the images": '{"organization": "acme", "images": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "objects 5000 deep beside the fields": '{"organization": "acme", "images": ["aGk="], "x": '
    + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    "a million unclosed brackets": "[" * 1_000_000,
    "arrays 33 deep, one over the limit": '{"organization": "acme", "images": ["aGk="], "x": '
    + "[" * 32 + "]" * 32 + "}",
}


@pytest.mark.parametrize("case", NESTED_BODIES, ids=list(NESTED_BODIES))
def test_a_deeply_nested_json_body_is_a_json_400(api_app, matching_app, lambda_context, case):
    for app, template in ((api_app, "enroll-json.json"), (matching_app, "compare-json.json")):
        event = json_event(template, {})
        event["body"] = NESTED_BODIES[case]
        status, response = invoke(app, event, lambda_context)
        assert (status, response["error"]["code"]) == (400, "VALIDATION_ERROR"), response


def test_json_nested_as_deep_as_the_limit_is_read(api_app, lambda_context, organization):
    event = json_event("enroll-json.json", {})
    event["body"] = '{"organization": "%s", "images": ["aGk="], "x": %s}' % (organization, "[" * 31 + "]" * 31)
    status, response = invoke(api_app, event, lambda_context)
    assert (status, response["error"]["code"]) == (400, "INVALID_IMAGE"), response  # read, then judged


def test_a_missing_field_is_a_validation_error(api_app, matching_app, lambda_context):
    event = multipart_event("enroll-multipart.json", [], [("images", "a.jpg", face("alice")[1])])
    status, body = invoke(api_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert "organization" in body["error"]["message"]
    event = multipart_event("compare-multipart.json", [("organization", "acme")], [])
    status, body = invoke(matching_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert "image" in body["error"]["message"]


def test_comparing_against_an_organization_with_nothing_enrolled_is_404(
    matching_app, lambda_context, organization
):
    status, body = compare(matching_app, lambda_context, organization, face("alice"))
    assert (status, body["error"]["code"]) == (404, "ORGANIZATION_NOT_FOUND")


def test_an_organization_never_matches_another_organizations_faces(
    api_app, matching_app, lambda_context
):
    enrolled_ids(api_app, lambda_context, "alpha", [face("alice")])
    enrolled_ids(api_app, lambda_context, "beta", [face("bob")])
    status, body = compare(matching_app, lambda_context, "beta", face("alice", 1))
    assert status == 200
    assert body["match"] is False
    status, body = compare(matching_app, lambda_context, "gamma", face("alice", 1))
    assert status == 404


def test_too_many_images_in_one_request_are_refused(api_app, lambda_context, organization):
    files = [(f"{i}.png", blank_image()) for i in range(11)]
    status, body = enroll(api_app, lambda_context, organization, files)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_health_reports_model_detector_and_version(api_app, lambda_context):
    status, body = invoke(api_app, load_event("health.json"), lambda_context)
    assert status == 200
    assert body == {"status": "ok", "model": "Dlib", "detector": "dlib", "version": "0.1.0"}


def test_an_unknown_route_is_a_json_404(api_app, lambda_context):
    event = load_event("health.json")
    event["path"] = event["resource"] = "/api/nothing-here"
    status, body = invoke(api_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_a_wrong_content_type_is_a_json_415(api_app, lambda_context):
    event = with_body(load_event("enroll-multipart.json"), b"organization=acme", "text/plain")
    status, body = invoke(api_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--XYZ\r\nContent-Disposition: form-data; name=\"organization\"\r\n\r\nacme", "multipart/form-data; boundary=XYZ"),
        (b"garbage without any structure", "multipart/form-data; boundary=XYZ"),
        (b"--XYZ\r\n", "multipart/form-data"),
        (b"{not json", "application/json"),
    ],
)
def test_a_malformed_body_is_a_json_400(api_app, matching_app, lambda_context, body, content_type):
    for app, template in ((api_app, "enroll-multipart.json"), (matching_app, "compare-multipart.json")):
        status, response = invoke(app, with_body(load_event(template), body, content_type), lambda_context)
        assert (status, response["error"]["code"]) == (400, "VALIDATION_ERROR"), response


def test_the_committed_sample_events_are_answered_with_their_documented_errors(
    api_app, matching_app, lambda_context
):
    # The samples carry a blank picture (no photos in the repository): no face to enroll.
    status, body = invoke(api_app, load_event("enroll-multipart.json"), lambda_context)
    assert (status, body["error"]["code"]) == (422, "NO_FACE_DETECTED")
    status, body = invoke(matching_app, load_event("compare-multipart.json"), lambda_context)
    assert (status, body["error"]["code"]) == (422, "NO_FACE_DETECTED")
