"""Every face of a photo, and answers per person, over the API on the stub face networks."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from facematch.inputs import ImageInput
from facematch_testing.api import compare, enrolled_ids, invoke
from facematch_testing.bulk import enroll_in_bulk
from facematch_testing.events import json_event
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")

# synthetic_photo(..., faces=3) draws "alice" large and two smaller bystanders, left to right.
GROUP = ("alice", "alice/bystander-1", "alice/bystander-2")


def face(person: str, variant: int = 0, **options) -> tuple[str, bytes]:
    return f"{person.replace('/', '-')}-{variant}.jpg", synthetic_photo(person, variant, **options)


def group_photo() -> tuple[str, bytes]:
    return "group.jpg", synthetic_photo("alice", 5, size=(1200, 480), faces=3)


def enroll_group(api_app, lambda_context, organization) -> dict[int, str]:
    owner = {}
    for person, size in zip(GROUP, [(640, 480), (240, 240), (240, 240)], strict=True):  # faces as large as in the group
        (embed_id,) = enrolled_ids(
            api_app, lambda_context, organization, [face(person, size=size)], external_id=person.replace("/", "-")
        )
        owner[embed_id] = person.replace("/", "-")
    return owner


def test_a_default_compare_answers_exactly_the_fields_it_always_did(api_app, matching_app, lambda_context, organization):
    enroll_group(api_app, lambda_context, organization)
    status, body = compare(matching_app, lambda_context, organization, group_photo())
    assert status == 200, body
    assert not {"faces", "faces_left_out", "faces_matched"} & set(body)
    assert not any("faces_matched" in match for match in body["matches"])


def test_every_face_is_identified_largest_first_and_the_top_level_stays_the_largest(
    api_app, matching_app, lambda_context, organization
):
    owner = enroll_group(api_app, lambda_context, organization)
    status, body = compare(matching_app, lambda_context, organization, group_photo(), faces="all", top_k=2)
    assert status == 200, body
    assert body["faces_left_out"] == 0
    assert [owner[entry["embed_id"]] for entry in body["faces"]] == ["alice", "alice-bystander-1", "alice-bystander-2"]
    widths = [entry["face"]["w"] for entry in body["faces"]]
    assert widths == sorted(widths, reverse=True)
    for entry in body["faces"]:
        assert entry["match"] is True and len(entry["matches"]) == 2
        assert {key: entry[key] for key in entry["matches"][0]} == entry["matches"][0]
    largest = body["faces"][0]
    assert (body["embed_id"], body["face"], body["matches"]) == (largest["embed_id"], largest["face"], largest["matches"])


def test_faces_beyond_the_limit_are_counted_not_searched(
    api_app, matching_app, lambda_context, organization, monkeypatch
):
    matching = matching_app.service.matching
    monkeypatch.setattr(matching, "settings", matching.settings.model_copy(update={"max_faces_per_image": 2}))
    enroll_group(api_app, lambda_context, organization)
    _, body = compare(matching_app, lambda_context, organization, group_photo(), faces="all")
    assert len(body["faces"]) == 2 and body["faces_left_out"] == 1


def test_all_faces_are_embedded_once_and_searched_in_one_product_like_separate_compares(
    api_app, matching_app, lambda_context, organization
):
    enroll_group(api_app, lambda_context, organization)
    _, together = compare(matching_app, lambda_context, organization, group_photo(), faces="all", top_k=3)
    embedder = matching_app.service.embedder
    faces, _ = embedder.embed_photo_faces(group_photo()[1], max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9, max_faces=20)
    for entry, embedded in zip(together["faces"], faces, strict=True):
        alone = matching_app.service.matching.match(organization, embedded.vector, 3, 0.07)
        assert [m.embed_id for m in alone] == [m["embed_id"] for m in entry["matches"]]
        assert [m.distance for m in alone] == pytest.approx([m["distance"] for m in entry["matches"]], abs=2e-6)


def enroll_people(api_app, lambda_context, organization) -> None:
    for person, variants in (("alice", 3), ("bob", 2)):
        enrolled_ids(
            api_app, lambda_context, organization, [face(person, v) for v in range(variants)], external_id=person
        )
    enrolled_ids(api_app, lambda_context, organization, [face("carol"), face("dave")])  # unlabelled


def brute_force_persons(service, organization: str, query: np.ndarray, top_k: int, threshold: float) -> list[tuple]:
    """Every live face, its label and distance, grouped by hand: (label or embed_id, best distance,
    faces within the threshold), best first."""
    records = service.holdings.list_embeddings(organization, limit=1000).embeddings
    vectors = {
        r.embed_id: service.enrollment.embed(ImageInput(r.source, synthetic_photo(*source_of(r.source)))).vector
        for r in records
    }
    distances = {i: round(max(0.0, 1.0 - float(v @ query)), 6) for i, v in vectors.items()}
    groups: dict = {}
    for r in records:
        key = r.external_id or r.embed_id
        groups.setdefault(key, []).append(distances[r.embed_id])
    ranked = sorted(groups.items(), key=lambda item: min(item[1]))[:top_k]
    return [(key, min(ds), sum(d <= threshold for d in ds)) for key, ds in ranked]


def source_of(name: str) -> tuple[str, int]:
    person, variant = name.rsplit(".", 1)[0].rsplit("-", 1)
    return person, int(variant)


@pytest.mark.parametrize(("query", "threshold"), [(("alice", 7), 0.07), (("bob", 7), 0.07), (("alice", 7), 1.9)])
def test_grouped_by_person_each_entry_is_a_persons_best_face_with_their_matching_faces_as_brute_force_finds(
    api_app, matching_app, lambda_context, organization, query, threshold
):
    enroll_people(api_app, lambda_context, organization)
    photo = face(*query)
    status, body = compare(
        matching_app, lambda_context, organization, photo, group_by="person", top_k=4, threshold=threshold
    )
    assert status == 200, body
    service = matching_app.service
    vector = service.enrollment.embed(ImageInput(photo[0], photo[1])).vector
    expected = brute_force_persons(service, organization, vector, 4, threshold)
    got = [(m["external_id"] or m["embed_id"], m["distance"], m["faces_matched"]) for m in body["matches"]]
    assert [(key, matched) for key, _, matched in got] == [(key, matched) for key, _, matched in expected]
    assert [distance for _, distance, _ in got] == pytest.approx([distance for _, distance, _ in expected], abs=2e-6)
    assert len(body["matches"]) == 4  # top_k counts persons: alice, bob, carol, dave
    assert body["faces_matched"] == body["matches"][0]["faces_matched"]


def test_persons_are_found_beyond_the_first_candidates_when_one_person_fills_them(
    api_app, matching_app, lambda_context, organization
):
    # 70 photos of alice: the 64 nearest candidates are all hers, the next person further down.
    for start in range(0, 70, 10):
        enrolled_ids(
            api_app, lambda_context, organization, [face("alice", v) for v in range(start, start + 10)],
            external_id="alice",
        )
    # 700 random faces (after the enrollments: moto copies the table for each transaction) make
    # the organization large enough for each compare to fit its own tail.
    enroll_in_bulk(matching_app.service, organization, 700, photos=False)
    _, body = compare(matching_app, lambda_context, organization, face("alice", 99), group_by="person", top_k=2)
    assert body["matches"][0]["external_id"] == "alice" and body["matches"][1]["external_id"] != "alice"
    assert body["matches"][0]["faces_matched"] == 70 and body["matches"][1]["faces_matched"] == 0
    # The E-values come from the same 64 nearest however far the search for persons went.
    _, by_face = compare(matching_app, lambda_context, organization, face("alice", 99))
    assert body["expected_false_matches"] == by_face["expected_false_matches"]


@pytest.mark.parametrize("fields", [{"faces": "every"}, {"faces": ""}, {"group_by": "people"}, {"group_by": "Person"}])
def test_an_unknown_faces_or_group_by_value_is_a_validation_error(
    api_app, matching_app, lambda_context, organization, fields
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    status, body = compare(matching_app, lambda_context, organization, face("alice"), **fields)
    assert status == 400
    assert body["error"]["code"] == "VALIDATION_ERROR"


def test_a_json_compare_asks_for_every_face_by_person_too(api_app, matching_app, lambda_context, organization):
    enroll_group(api_app, lambda_context, organization)
    query = base64.b64encode(group_photo()[1]).decode()
    payload = {"organization": organization, "image": query, "faces": "all", "group_by": "person", "top_k": 2}
    status, body = invoke(matching_app, json_event("compare-json.json", payload), lambda_context)
    assert status == 200, body
    assert [entry["external_id"] for entry in body["faces"]] == ["alice", "alice-bystander-1", "alice-bystander-2"]
    for entry in body["faces"]:
        assert entry["faces_matched"] == 1  # each person has one face, and it is within the threshold
        assert [m["faces_matched"] for m in entry["matches"]] == [1, 0]
