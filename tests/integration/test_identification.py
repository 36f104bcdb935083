"""Who a photo shows, with the real model on the shared photos."""

from __future__ import annotations

import pytest

from facematch_testing.api import compare, enroll
from facematch_testing.photos import identities, photo

pytestmark = pytest.mark.usefixtures("aws")


def test_each_enrolled_person_is_identified_from_a_photo_held_out_of_enrollment(
    model_api_app, model_matching_app, lambda_context, faces_dir, organization
):
    people = identities(faces_dir)
    owner = {}
    for person, files in people.items():
        status, body = enroll(
            model_api_app, lambda_context, organization, [photo(faces_dir, f) for f in files[:-1]]
        )
        assert status == 201, body
        assert body["failed"] == []
        for embedding in body["embeddings"]:
            assert embedding["model"] == "Dlib"
            owner[embedding["embed_id"]] = person
    assert len(owner) == sum(len(files) - 1 for files in people.values())

    for person, files in people.items():
        status, body = compare(model_matching_app, lambda_context, organization, photo(faces_dir, files[-1]))
        assert status == 200, body
        assert owner[body["embed_id"]] == person, (files[-1], body)
        assert body["match"] is True, (files[-1], body)
        assert body["threshold"] == 0.07


def test_a_person_who_was_not_enrolled_does_not_match(
    model_api_app, model_matching_app, lambda_context, faces_dir, organization
):
    people = identities(faces_dir)
    for person in ("angelina", "jennifer", "mark"):
        status, _ = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, people[person][0])])
        assert status == 201
    status, body = compare(model_matching_app, lambda_context, organization, photo(faces_dir, people["elon"][0]))
    assert status == 200
    assert body["match"] is False
    assert body["distance"] > body["threshold"]


def test_the_largest_of_two_real_faces_is_enrolled_and_both_are_counted(
    model_api_app, lambda_context, faces_dir, organization
):
    status, body = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, "couple.jpg")])
    assert status == 201
    (embedding,) = body["embeddings"]
    assert embedding["faces_in_image"] == 2


def test_held_out_photos_of_enrolled_people_are_significant_matches_and_a_strangers_photos_are_not(
    model_api_app, model_matching_app, lambda_context, faces_dir, organization
):
    people = identities(faces_dir)
    stranger = people.pop("elon")
    for files in people.values():
        status, _ = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, f) for f in files[:-1]])
        assert status == 201
    for files in people.values():
        _, body = compare(
            model_matching_app, lambda_context, organization, photo(faces_dir, files[-1]), match_rule="significance"
        )
        assert body["significant"] is True and body["match"] is True, (files[-1], body)
        assert body["expected_false_matches"] < 0.01
    for file in stranger:
        _, body = compare(
            model_matching_app, lambda_context, organization, photo(faces_dir, file), match_rule="significance"
        )
        assert body["match"] is False, (file, body)
        assert body["expected_false_matches"] > 0.01, (file, body)
