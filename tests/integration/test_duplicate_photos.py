"""Duplicates with the real model on the shared photos (61 single-face photos of 13 people):
returning people are flagged with their earlier photos, and no newcomer is flagged, even against
a gallery of every other person's photos."""

from __future__ import annotations

import numpy as np
import pytest

from facematch_testing.api import enroll, request
from facematch_testing.photos import people, photo

pytestmark = pytest.mark.usefixtures("aws")


def test_photos_enrolled_one_by_one_flag_only_earlier_photos_of_the_same_person_and_nearly_every_returning_one(
    model_api_app, lambda_context, faces_dir, organization
):
    person_of = people(faces_dir)
    names = sorted(person_of, key=lambda name: int("".join(c for c in name if c.isdigit())))
    owner, vectors, seen, missed = {}, {}, set(), []
    for name in names:
        status, body = enroll(
            model_api_app, lambda_context, organization, [photo(faces_dir, name)],
            external_id=person_of[name], include_embedding="true",
        )
        assert status == 201, body
        (embedding,) = body["embeddings"]
        flagged = {owner[duplicate["embed_id"]] for duplicate in embedding["duplicates"]}
        # Nobody is flagged with a stranger.
        assert flagged <= {person_of[name]}, (name, embedding["duplicates"])
        if person_of[name] in seen and not flagged:
            missed.append(name)
        owner[embedding["embed_id"]] = person_of[name]
        vectors[embedding["embed_id"]] = np.asarray(embedding["embedding"], dtype=np.float32)
        seen.add(person_of[name])
    assert len(names) == 61 and len(seen) == 13
    # 48 photos of returning people. Measured: img12.jpg alone is missed; its only earlier photo of
    # jennifer, img3.jpg, is 0.067 away, which 11 faces searched would see by chance 0.012 times.
    assert len(missed) <= 2, missed

    # Each person as a newcomer to a gallery of every other person's photos: the finder's own
    # screening, with that person's faces left out of the gallery.
    finder = model_api_app.service.enrollment.duplicates
    for person in seen:
        theirs = [embed_id for embed_id, owned in owner.items() if owned == person]
        screening = finder.screen(
            organization, np.stack([vectors[i] for i in theirs]), "allow", ignore=frozenset(theirs)
        )
        assert all(found.earlier is not None for faces in screening.duplicates for found in faces), person


def test_re_enrolling_a_photo_with_skip_stores_nothing_and_names_the_face_already_held(
    model_api_app, lambda_context, faces_dir, organization
):
    status, first = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, "img1.jpg")], external_id="angelina")
    assert status == 201, first
    for name in ("img1.jpg", "img2.jpg"):  # the same photo again, and another photo of her
        status, body = enroll(model_api_app, lambda_context, organization, [photo(faces_dir, name)], on_duplicate="skip")
        assert status == 200, body
        (skipped,) = body["skipped"]
        (duplicate,) = skipped["duplicates"]
        assert (duplicate["embed_id"], duplicate["external_id"]) == (first["embed_id"], "angelina")
        assert duplicate["distance"] == 0 if name == "img1.jpg" else 0 < duplicate["distance"] < 0.07
    _, held = request(model_api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    assert [e["embed_id"] for e in held["embeddings"]] == [first["embed_id"]]
