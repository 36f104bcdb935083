"""Duplicates at enrollment, on the stub face networks: every stored face lists the significant
matches the organization already held (significance.significant_duplicate), and
``on_duplicate=skip`` stores none of those. Photos of one stub person are a few thousandths
apart, of two people about 1."""

from __future__ import annotations

import base64
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from facematch.aws import client
from facematch.duplicates import DuplicateFinder
from facematch.idempotency import Repeatable
from facematch.inputs import ImageInput, S3Upload
from facematch.models import MAX_DUPLICATES
from facematch.writes import NewFace
from facematch_testing.api import enroll, enrolled_ids, invoke, request
from facematch_testing.aws import all_items
from facematch_testing.bulk import enroll_in_bulk
from facematch_testing.events import json_event, multipart_event
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
BUCKET = os.environ["FACEMATCH_BUCKET"]


def photo(person: str, variant: int = 0) -> tuple[str, bytes]:
    return f"{person}-{variant}.jpg", synthetic_photo(person, variant)


def held(api_app, lambda_context, organization) -> list[int]:
    _, body = request(api_app, lambda_context, "GET", "/api/embeddings", {"organization": organization})
    return sorted(embedding["embed_id"] for embedding in body["embeddings"])


def test_re_enrolling_a_person_lists_the_earlier_embedding_and_stores_the_new_one(api_app, lambda_context, organization):
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")], external_id="ann")
    (stranger,) = enrolled_ids(api_app, lambda_context, organization, [photo("bob")], external_id="bob")
    assert enroll(api_app, lambda_context, organization, [photo("cat")])[1]["embeddings"][0]["duplicates"] == []

    status, body = enroll(api_app, lambda_context, organization, [photo("ann", 1)], external_id="ann-again")
    assert status == 201, body
    (embedding,) = body["embeddings"]
    (duplicate,) = embedding["duplicates"]
    assert (duplicate["embed_id"], duplicate["external_id"]) == (first, "ann")
    assert 0 < duplicate["distance"] < 0.02 and duplicate["expected_false_matches"] < 0.01
    assert body["skipped"] == [] and embedding["embed_id"] in held(api_app, lambda_context, organization)
    assert stranger not in [d["embed_id"] for d in embedding["duplicates"]]


def test_with_skip_a_face_already_held_is_listed_as_skipped_and_nothing_is_stored(
    api_app, lambda_context, organization
):
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")], external_id="ann")
    before = held(api_app, lambda_context, organization)
    status, body = enroll(api_app, lambda_context, organization, [photo("ann", 1)], on_duplicate="skip")
    assert status == 200, body
    assert body["embeddings"] == [] and "embed_id" not in body and body["failed"] == []
    (skipped,) = body["skipped"]
    assert skipped["image"] == "ann-1.jpg" and [d["embed_id"] for d in skipped["duplicates"]] == [first]
    assert held(api_app, lambda_context, organization) == before


def test_with_skip_the_new_faces_of_a_request_are_stored_and_the_held_ones_skipped(
    api_app, lambda_context, organization
):
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")])
    status, body = enroll(
        api_app, lambda_context, organization, [photo("bob"), photo("ann", 2), photo("cat")], on_duplicate="skip"
    )
    assert status == 201, body
    assert [e["image"] for e in body["embeddings"]] == ["bob-0.jpg", "cat-0.jpg"]
    assert body["embed_id"] == body["embeddings"][0]["embed_id"]
    assert [(s["image"], [d["embed_id"] for d in s["duplicates"]]) for s in body["skipped"]] == [("ann-2.jpg", [first])]


def test_two_photos_of_a_new_person_in_one_request_are_screened_one_after_the_other(
    api_app, lambda_context, organization
):
    status, allowed = enroll(api_app, lambda_context, organization, [photo("ann"), photo("ann", 1)], external_id="ann")
    assert status == 201, allowed
    first, second = allowed["embeddings"]
    assert first["duplicates"] == []
    assert [(d["embed_id"], d["external_id"]) for d in second["duplicates"]] == [(first["embed_id"], "ann")]

    status, skipping = enroll(api_app, lambda_context, organization, [photo("dan"), photo("dan", 1)], on_duplicate="skip")
    assert status == 201, skipping
    (kept,) = skipping["embeddings"]
    (skipped,) = skipping["skipped"]
    assert kept["image"] == "dan-0.jpg" and skipped["image"] == "dan-1.jpg"
    assert [d["embed_id"] for d in skipped["duplicates"]] == [kept["embed_id"]]


def test_at_most_five_duplicates_are_answered_nearest_first(api_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [photo("ann", variant) for variant in range(7)])
    _, body = enroll(api_app, lambda_context, organization, [photo("ann", 9)])
    duplicates = body["embeddings"][0]["duplicates"]
    assert len(duplicates) == MAX_DUPLICATES
    assert [d["distance"] for d in duplicates] == sorted(d["distance"] for d in duplicates)


def test_a_newcomer_among_thousands_of_strangers_gets_no_duplicate_and_a_returning_face_does(
    api_app, lambda_context, organization
):
    service = api_app.service
    enrolled_ids(api_app, lambda_context, organization, [photo(f"person-{n}") for n in range(10)])
    enroll_in_bulk(service, organization, 3000, photos=False)  # the per-query fit, not the reference
    _, newcomer = enroll(api_app, lambda_context, organization, [photo("newcomer")])
    assert newcomer["embeddings"][0]["duplicates"] == []
    _, returning = enroll(api_app, lambda_context, organization, [photo("person-3", 1)])
    (duplicate,) = returning["embeddings"][0]["duplicates"]
    assert duplicate["expected_false_matches"] < 0.01


def test_a_person_held_many_times_is_still_flagged_and_a_stranger_held_many_times_flags_no_newcomer(
    api_app, lambda_context, organization
):
    """The stranger tail leaves out the nearest face's cluster: twelve photos of one person do not
    read as twelve strangers that close (which made them all look like chance)."""
    enroll_in_bulk(api_app.service, organization, 3000, photos=False)
    for batch in range(3):
        enrolled_ids(api_app, lambda_context, organization, [photo("ann", 4 * batch + n) for n in range(4)])
    _, body = enroll(api_app, lambda_context, organization, [photo("ann", 20)])
    duplicates = body["embeddings"][0]["duplicates"]
    assert len(duplicates) == MAX_DUPLICATES and all(d["expected_false_matches"] < 0.01 for d in duplicates)
    _, newcomer = enroll(api_app, lambda_context, organization, [photo("bob")])
    assert newcomer["embeddings"][0]["duplicates"] == []


def test_a_duplicate_erased_since_the_vectors_were_read_is_not_answered(api_app, lambda_context, organization):
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")])
    api_app.service.enrollment.duplicates.prepare(organization)  # the warm copy still holds it
    status, _ = request(
        api_app, lambda_context, "DELETE", f"/api/embeddings/{first}", {"organization": organization},
        path_parameters={"embed_id": str(first)},
    )
    assert status == 200
    _, body = enroll(api_app, lambda_context, organization, [photo("ann", 1)], on_duplicate="skip")
    assert body["embeddings"][0]["duplicates"] == [] and body["skipped"] == []


def test_two_requests_for_one_new_person_at_once_both_store_it_and_neither_sees_the_other(
    api_app, lambda_context, organization, monkeypatch
):
    """Skip is a check against what is held, not a lock: both requests screen before either
    stores (the barrier), so both store. A later enrollment of the person lists them both."""
    screened = threading.Barrier(2, timeout=30)
    one_writer = threading.Lock()  # the writes one after the other: moto's conditions are not atomic under threads
    screen = DuplicateFinder.screen

    def screen_then_wait(self, *args, **kwargs):
        screening = screen(self, *args, **kwargs)
        screened.wait()
        return screening

    write = type(api_app.service.writes).enroll

    def write_alone(self, *args, **kwargs):
        with one_writer:
            return write(self, *args, **kwargs)

    monkeypatch.setattr(DuplicateFinder, "screen", screen_then_wait)
    monkeypatch.setattr(type(api_app.service.writes), "enroll", write_alone)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(
            lambda variant: enroll(api_app, lambda_context, organization, [photo("eve", variant)], on_duplicate="skip"),
            [0, 1],
        ))
    monkeypatch.undo()
    assert [status for status, _ in answers] == [201, 201]
    assert all(body["embeddings"][0]["duplicates"] == [] for _, body in answers)
    stored = sorted(body["embed_id"] for _, body in answers)
    assert held(api_app, lambda_context, organization) == stored
    _, later = enroll(api_app, lambda_context, organization, [photo("eve", 2)], on_duplicate="skip")
    assert sorted(d["embed_id"] for d in later["skipped"][0]["duplicates"]) == stored


def test_a_retried_enrollment_is_not_its_own_duplicate_and_stores_what_its_first_attempt_decided(
    api_app, organization
):
    """An attempt whose answer was lost after its commit, retried (a redelivered upload, a key
    taken over): the same ids, and the same photos stored, whatever was enrolled in between."""
    enrollment = api_app.service.enrollment
    (bob,) = enrollment.enroll(organization, [ImageInput("bob.jpg", synthetic_photo("bob"))]).embeddings
    retried = Repeatable.keyed(organization, "key-1")
    photos = [ImageInput("ann.jpg", synthetic_photo("ann")), ImageInput("bob.jpg", synthetic_photo("bob", 1))]
    first = enrollment.enroll(organization, photos, repeatable=retried, on_duplicate="skip")
    assert [e.image for e in first.embeddings] == ["ann.jpg"] and [s.image for s in first.skipped] == ["bob.jpg"]
    # In between, another photo of ann: a fresh screening would now skip ann.jpg.
    (ann_again,) = enrollment.enroll(organization, [ImageInput("ann-2.jpg", synthetic_photo("ann", 2))]).embeddings

    again = enrollment.enroll(organization, photos, repeatable=retried, on_duplicate="skip")
    assert [e.embed_id for e in again.embeddings] == [first.embeddings[0].embed_id]
    assert [d.embed_id for d in again.embeddings[0].duplicates] == [ann_again.embed_id]
    assert [d.embed_id for d in again.skipped[0].duplicates] == [bob.embed_id]
    assert api_app.service.vectors.refresh(organization, "Dlib") == 3


def test_an_upload_takes_on_duplicate_from_its_metadata_and_records_what_it_duplicates(
    api_app, lambda_context, organization
):
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")])
    key = f"uploads/{organization}/ann-1.jpg"
    response = client("s3").put_object(
        Bucket=BUCKET, Key=key, Body=synthetic_photo("ann", 1), Metadata={"on-duplicate": "skip"}
    )
    outcome = api_app.service.uploads.enroll(S3Upload(bucket=BUCKET, key=key, version_id=response.get("VersionId")))
    assert (outcome.status, outcome.embed_id, [d.embed_id for d in outcome.duplicates]) == ("skipped", None, [first])
    _, listing = request(api_app, lambda_context, "GET", "/api/uploads", {"organization": organization})
    assert listing["uploads"][0]["status"] == "skipped"
    assert listing["uploads"][0]["duplicates"][0]["embed_id"] == first
    assert held(api_app, lambda_context, organization) == [first]


def test_an_upload_url_signs_the_enrollment_options_as_metadata(api_app, lambda_context, organization):
    fields = {
        "organization": organization, "filename": "a.jpg", "content_type": "image/jpeg", "size": "1000",
        "quality_filter": "high", "on_duplicate": "skip",
    }
    event = multipart_event("enroll-multipart.json", list(fields.items()), [])
    event.update(path="/api/uploads", resource="/api/uploads")
    status, upload = invoke(api_app, event, lambda_context)
    assert status == 201, upload
    signed = set(parse_qs(urlsplit(upload["url"]).query)["X-Amz-SignedHeaders"][0].split(";"))
    assert {"x-amz-meta-quality-filter", "x-amz-meta-on-duplicate"} <= signed
    assert upload["headers"]["x-amz-meta-quality-filter"] == "high"
    assert upload["headers"]["x-amz-meta-on-duplicate"] == "skip"


def test_an_idempotency_key_replays_skip_answers_and_refuses_the_same_photos_with_other_options(
    api_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [photo("ann")])
    first = enroll(api_app, lambda_context, organization, [photo("ann", 1)], on_duplicate="skip", idempotency_key="k-1")
    again = enroll(api_app, lambda_context, organization, [photo("ann", 1)], on_duplicate="skip", idempotency_key="k-1")
    assert first == again and first[0] == 200 and len(first[1]["skipped"]) == 1
    for options in ({"on_duplicate": "allow"}, {"on_duplicate": "skip", "quality_filter": "auto"}):
        status, body = enroll(api_app, lambda_context, organization, [photo("ann", 1)], idempotency_key="k-1", **options)
        assert (status, body["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED"), options


def test_erasing_a_person_erases_their_label_from_the_answers_and_upload_records_that_named_them_as_a_duplicate(
    api_app, lambda_context, organization
):
    label = f"ann-{organization}"
    (first,) = enrolled_ids(api_app, lambda_context, organization, [photo("ann")], external_id=label)
    status, keyed = enroll(api_app, lambda_context, organization, [photo("ann", 1)], external_id="other", idempotency_key="k-2")
    assert status == 201 and keyed["embeddings"][0]["duplicates"][0]["external_id"] == label
    key = f"uploads/{organization}/ann-2.jpg"
    response = client("s3").put_object(Bucket=BUCKET, Key=key, Body=synthetic_photo("ann", 2), Metadata={"on-duplicate": "skip"})
    outcome = api_app.service.uploads.enroll(S3Upload(bucket=BUCKET, key=key, version_id=response.get("VersionId")))
    assert outcome.status == "skipped" and label in [d.external_id for d in outcome.duplicates]

    status, _ = request(
        api_app, lambda_context, "DELETE", f"/api/embeddings/{first}", {"organization": organization},
        path_parameters={"embed_id": str(first)},
    )
    assert status == 200
    assert not [item for item in all_items() if label in json.dumps(item)]
    _, replayed = enroll(api_app, lambda_context, organization, [photo("ann", 1)], external_id="other", idempotency_key="k-2")
    assert first not in [d["embed_id"] for d in replayed["embeddings"][0]["duplicates"]]
    _, listing = request(api_app, lambda_context, "GET", "/api/uploads", {"organization": organization})
    assert first not in [d["embed_id"] for d in listing["uploads"][0]["duplicates"]]


@pytest.mark.parametrize(("distance", "duplicate"), [(0.06, True), (0.08, False)])
def test_a_duplicate_is_a_significant_match_so_within_the_threshold_however_small_the_chance(
    api_app, organization, distance, duplicate
):
    """With one face held, 0.08 would be chance once in 190 (the reference tail): significant at
    0.01, yet beyond the model's threshold (0.07), so no match, and no duplicate."""
    service = api_app.service
    query = np.zeros(service.embedder.dimensions, np.float32)
    query[0] = 1.0
    held = query.copy()
    held[:2] = [1.0 - distance, np.sqrt(1.0 - (1.0 - distance) ** 2)]
    face = NewFace(vector=held, box={"x": 0, "y": 0, "w": 10, "h": 10, "confidence": 1.0}, source="held.jpg")
    service.writes.enroll(organization, service.settings.model, [face], "held")
    finder = service.enrollment.duplicates
    finder.prepare(organization)
    screening = finder.screen(organization, query[None, :], "skip")
    assert [len(found) for found in screening.duplicates] == [1 if duplicate else 0]
    assert screening.stored == [not duplicate]


def test_a_json_enrollment_takes_on_duplicate_and_quality_filter_as_fields(api_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [photo("ann")])
    payload = {
        "organization": organization, "images": [base64.b64encode(synthetic_photo("ann", 1)).decode()],
        "on_duplicate": "skip", "quality_filter": "high",
    }
    status, body = invoke(api_app, json_event("enroll-json.json", payload), lambda_context)
    assert status == 200 and [s["image"] for s in body["skipped"]] == ["0"], body
    status, body = invoke(api_app, json_event("enroll-json.json", {**payload, "on_duplicate": "never"}), lambda_context)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
