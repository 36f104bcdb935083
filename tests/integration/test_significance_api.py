"""How sure a match is, over the API: the compare's significance fields and rules, and an
organization's calibration, on the stub face networks under moto."""

from __future__ import annotations

import pytest

from facematch import significance
from facematch_testing.api import compare, enrolled_ids, request
from facematch_testing.bulk import enroll_in_bulk
from facematch_testing.events import organization_key
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")

# Past QUERY_MIN_SEARCHED, so that compares and the calibration fit their own tail.
LARGE = significance.QUERY_MIN_SEARCHED + 360


def face(person: str, variant: int = 0) -> tuple[str, bytes]:
    return f"{person}-{variant}.jpg", synthetic_photo(person, variant)


def calibration(app, context, organization: str, caller=None, **query: str):
    path = f"/api/organizations/{organization}/calibration"
    options = {"caller": caller} if caller else {}
    return request(app, context, "GET", path, query or None, {"organization": organization}, **options)


@pytest.fixture
def large_organization(matching_app, organization):
    enroll_in_bulk(matching_app.service, organization, LARGE, photos=False)
    return organization


def test_every_match_answers_its_chance_probability_and_e_value_and_match_keeps_the_threshold_rule(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice"), face("bob")])
    status, body = compare(matching_app, lambda_context, organization, face("alice", 1), top_k=2)
    assert status == 200, body
    assert body["match_rule"] == "threshold"
    assert body["max_expected_false_matches"] == 0.01
    assert body["faces_searched"] == 2
    for match in body["matches"]:
        assert 0 <= match["false_match_probability"] <= 1
        assert match["expected_false_matches"] == pytest.approx(match["false_match_probability"] * 2, rel=1e-3)
        assert match["significant"] is (match["expected_false_matches"] < 0.01)
    best, other = body["matches"]
    assert best["significant"] is True and best["match"] is True
    assert other["significant"] is False and other["match"] is False
    assert {key: body[key] for key in best} == best


def test_under_the_significance_rule_a_match_within_the_threshold_that_is_not_significant_is_no_match(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    stranger = face("mallory")
    _, by_threshold = compare(matching_app, lambda_context, organization, stranger, threshold=1.9)
    assert by_threshold["match"] is True and by_threshold["significant"] is False
    _, by_significance = compare(
        matching_app, lambda_context, organization, stranger, threshold=1.9, match_rule="significance"
    )
    assert by_significance["match_rule"] == "significance"
    assert by_significance["match"] is False
    assert by_significance["distance"] == by_threshold["distance"]


def test_a_significant_match_beyond_the_threshold_is_no_match_under_either_rule(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    _, body = compare(
        matching_app, lambda_context, organization, face("alice", 1), threshold=0.0, match_rule="significance"
    )
    assert body["significant"] is True and body["distance"] > 0
    assert body["match"] is False


def test_the_request_bound_on_the_e_value_decides_significance(api_app, matching_app, lambda_context, organization):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    fields = {"threshold": 1.9, "match_rule": "significance"}
    _, strict = compare(matching_app, lambda_context, organization, face("mallory"), **fields)
    _, lenient = compare(
        matching_app, lambda_context, organization, face("mallory"), max_expected_false_matches=1000, **fields
    )
    assert strict["match"] is False
    assert lenient["max_expected_false_matches"] == 1000
    assert lenient["significant"] is True and lenient["match"] is True


def test_the_deployment_setting_chooses_the_rule_a_request_leaves_out(
    api_app, matching_app, lambda_context, organization, monkeypatch
):
    matching = matching_app.service.matching
    monkeypatch.setattr(matching, "settings", matching.settings.model_copy(update={"match_rule": "significance"}))
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    _, body = compare(matching_app, lambda_context, organization, face("mallory"), threshold=1.9)
    assert body["match_rule"] == "significance" and body["match"] is False
    _, body = compare(matching_app, lambda_context, organization, face("mallory"), threshold=1.9, match_rule="threshold")
    assert body["match_rule"] == "threshold" and body["match"] is True


@pytest.mark.parametrize(
    "fields",
    [{"match_rule": "loose"}, *({"max_expected_false_matches": bad} for bad in (0, -1, "x", "nan", "inf", "1e300"))],
)
def test_a_bad_rule_or_bound_is_a_validation_error(api_app, matching_app, lambda_context, organization, fields):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    status, body = compare(matching_app, lambda_context, organization, face("alice"), **fields)
    assert status == 400
    assert body["error"]["code"] == "VALIDATION_ERROR"


def test_in_a_large_organization_the_compare_fits_its_own_tail_and_finds_the_enrolled_face_significant(
    api_app, matching_app, lambda_context, large_organization
):
    (alice,) = enrolled_ids(api_app, lambda_context, large_organization, [face("alice")])
    status, body = compare(matching_app, lambda_context, large_organization, face("alice", 1), top_k=3)
    assert status == 200, body
    assert body["faces_searched"] == LARGE + 1
    assert body["embed_id"] == alice and body["significant"] is True
    # The next best are random strangers: as many of them as close is what chance gives.
    for stranger in body["matches"][1:]:
        assert stranger["significant"] is False
        assert stranger["expected_false_matches"] > 0.1


def test_a_small_organizations_calibration_is_the_reference_at_its_size(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice"), face("bob")])
    status, body = calibration(matching_app, lambda_context, organization)
    assert status == 200, body
    reference = significance.reference("Dlib")
    assert body == {
        "organization": organization,
        "model": "Dlib",
        "faces": 2,
        "source": "reference",
        "probes": 0,
        "pairs": reference.pairs,
        "quantiles": reference.quantiles(),
        "max_expected_false_matches": 0.01,
        "significant_distance": round(reference.distance_at(0.01 / 2), 6),
        "threshold": 0.07,
    }


def test_a_large_organizations_calibration_pools_its_own_faces_fits_and_is_stable_until_it_changes(
    api_app, matching_app, lambda_context, large_organization
):
    status, body = calibration(matching_app, lambda_context, large_organization, max_expected_false_matches="0.1")
    assert status == 200, body
    assert body["source"] == "query" and body["faces"] == LARGE
    assert body["probes"] == 32
    assert body["pairs"] == 32 * (LARGE - 1 - significance.QUERY_CENSORED)
    # A probe's fit sees its lowest 64 of the others: shares up to 64 / LARGE, no more.
    assert list(body["quantiles"]) == ["0.000001", "0.00001", "0.0001", "0.001", "0.01"]
    quantiles = list(body["quantiles"].values())
    assert quantiles == sorted(quantiles)
    # Random unit vectors in 128 dimensions: strangers 1 +- 0.088 apart, 1 % of them within 0.795
    # and one in a million within about 0.58. Far below what the probes saw, the fit errs towards
    # closer strangers (cautious: docs/significance.md), but not by much.
    assert 0.75 < body["quantiles"]["0.01"] < 0.84
    assert 0.4 < body["quantiles"]["0.000001"] < 0.62
    assert body["quantiles"]["0.00001"] <= body["significant_distance"] <= body["quantiles"]["0.001"]
    assert calibration(matching_app, lambda_context, large_organization, max_expected_false_matches="0.1")[1] == body
    enrolled_ids(api_app, lambda_context, large_organization, [face("alice")])
    _, after = calibration(matching_app, lambda_context, large_organization, max_expected_false_matches="0.1")
    assert after["faces"] == LARGE + 1


def test_a_match_at_the_calibrations_distance_has_about_the_e_value_asked_for(
    api_app, matching_app, lambda_context, large_organization
):
    _, body = calibration(matching_app, lambda_context, large_organization, max_expected_false_matches="1")
    status, found = compare(matching_app, lambda_context, large_organization, face("mallory"), top_k=5)
    assert status == 200
    # One stranger query against random faces: its best match is about as close as the distance at
    # which one chance match is expected (the pooled estimate describes a typical query).
    assert abs(found["distance"] - body["significant_distance"]) < 0.1


@pytest.mark.parametrize("bound", ["0", "nan", "inf", "-0.5", "many"])
def test_a_calibration_with_a_bad_bound_is_a_validation_error(
    api_app, matching_app, lambda_context, organization, bound
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    status, body = calibration(matching_app, lambda_context, organization, max_expected_false_matches=bound)
    assert status == 400
    assert body["error"]["code"] == "VALIDATION_ERROR"


def test_the_smallest_bound_still_answers_a_distance(api_app, matching_app, lambda_context, large_organization):
    status, body = calibration(matching_app, lambda_context, large_organization, max_expected_false_matches="1e-300")
    assert status == 200, body
    assert 0 <= body["significant_distance"] <= body["quantiles"]["0.000001"]


def test_calibration_of_an_organization_without_faces_is_not_found(matching_app, lambda_context, organization):
    status, body = calibration(matching_app, lambda_context, organization)
    assert status == 404
    assert body["error"]["code"] == "ORGANIZATION_NOT_FOUND"


def test_an_organizations_key_reads_its_own_calibration_and_no_other(
    api_app, matching_app, lambda_context, organization
):
    enrolled_ids(api_app, lambda_context, organization, [face("alice")])
    status, _ = calibration(matching_app, lambda_context, organization, caller=organization_key(organization))
    assert status == 200
    status, body = calibration(matching_app, lambda_context, organization, caller=organization_key("org-other"))
    assert status == 403
    assert body["error"]["code"] == "FORBIDDEN"
