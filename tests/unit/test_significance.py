"""The significance estimator: bounds, monotonicity, calibration on draws from a known
distribution, the organization's reservoir, the stranger pairs it is fed, and the duplicate rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facematch import significance as sig

# Near the Dlib stranger distances of the test photos (0.159, sd 0.034), a little narrower so that
# even the 1e-7 quantile lies above 0, where distances end.
MEAN, SD = 0.16, 0.025


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc((MEAN - x) / (SD * math.sqrt(2)))


def strangers(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(MEAN, SD, n)


def estimates() -> list[sig.TailEstimate]:
    draws = strangers(100_000, 1)
    tail = np.sort(np.partition(draws, sig.QUERY_TAIL)[: sig.QUERY_TAIL])
    return [
        sig.reference("Dlib"),
        sig.from_query(tail, draws.size, "Dlib"),
        sig.from_query(tail, draws.size, "no-such-model"),
        sig.from_sample(sig.StrangerSample(draws[:4096]), "Dlib"),
        sig.from_sample(sig.StrangerSample(draws[:100]), "Dlib"),
    ]


@pytest.mark.parametrize("estimate", estimates(), ids=lambda e: e.source)
def test_probability_is_within_bounds_and_never_decreases_with_distance(estimate):
    grid = np.linspace(-0.1, 2.1, 2001)
    values = np.array([estimate.probability(d) for d in grid])
    assert np.all((values >= 0) & (values <= 1))
    assert np.all(np.diff(values) >= 0)
    assert estimate.probability(2.0) == 1.0


@pytest.mark.parametrize("estimate", estimates(), ids=lambda e: e.source)
def test_distance_at_inverts_probability(estimate):
    for p in (1e-6, 1e-4, 1e-2, 0.3):
        distance = estimate.distance_at(p)
        if distance > 0:
            assert estimate.probability(distance) == pytest.approx(p, rel=1e-3)
        else:  # the fitted tail may put more than p below 0, where no distance lies
            assert estimate.probability(0.0) >= p
    assert set(estimate.quantiles()) == {"0.000001", "0.0001", "0.01", "0.5"}


@pytest.mark.parametrize(("searched", "cautious"), [(1_000, 20), (100_000, 4), (1_000_000, 4)])
def test_the_query_fit_at_e_of_one_is_never_4_times_too_bold_and_cautious_within_a_stated_factor(
    searched, cautious
):
    # A known distribution (normal); the fit sees only the QUERY_TAIL smallest of `searched` draws
    # and extrapolates to the distance where one stranger in `searched` is expected. One fit can be
    # off by more (a normal tail is lighter than most the fit allows: it errs towards large P,
    # most at small N, where the lowest QUERY_CENSORED ranks are a large part of the tail).
    ratios = []
    for seed in range(11):
        draws = strangers(searched, seed)
        tail = np.sort(np.partition(draws, sig.QUERY_TAIL)[: sig.QUERY_TAIL])
        estimate = sig.fit_query(tail, searched, "Dlib")
        ratios.append((1 / searched) / normal_cdf(estimate.distance_at(1 / searched)))
    assert 1 / 4 < float(np.median(ratios)) < cautious


def test_the_organization_fit_is_within_a_factor_three_of_the_truth_at_one_in_ten_thousand():
    errors = []
    for seed in range(5):
        estimate = sig.fit_sample(sig.StrangerSample(strangers(sig.SAMPLE_CAPACITY, seed)), "Dlib")
        errors.append(1e-4 / normal_cdf(estimate.distance_at(1e-4)))
    assert 1 / 3 < float(np.exp(np.mean(np.log(errors)))) < 3


def test_the_candidates_and_the_lowest_ranks_do_not_feed_the_query_fit():
    tail = np.sort(strangers(100_000, 3))[: sig.QUERY_TAIL]
    moved = tail.copy()
    moved[: sig.QUERY_CENSORED] = 0.0  # other photos of the person found, far closer than strangers
    a, b = sig.fit_query(tail, 100_000, "Dlib"), sig.fit_query(moved, 100_000, "Dlib", exclude=1)
    assert (a.threshold, a.shape, a.scale) == (b.threshold, b.shape, b.scale)


def test_a_small_search_uses_the_reference_and_a_small_organization_is_blended_with_it():
    small = np.sort(strangers(sig.QUERY_MIN_SEARCHED - 1, 4))[: sig.QUERY_TAIL]
    assert sig.from_query(small, sig.QUERY_MIN_SEARCHED - 1, "Dlib").source == "reference"
    blended = sig.from_sample(sig.StrangerSample(strangers(1000, 4)), "Dlib")
    assert blended.source == "organization+reference"
    weights = [w for w, _ in blended.parts]
    assert weights[0] == pytest.approx(1000 / (1000 + sig.PRIOR_PAIRS)) and sum(weights) == pytest.approx(1)


def test_without_a_reference_too_few_distances_make_nothing_significant():
    estimate = sig.from_query(np.array([0.01, 0.2]), 2, "no-such-model")
    assert estimate.probability(0.0) == pytest.approx(1.0)
    assert sig.reference("no-such-model") is None


def test_the_reservoir_never_exceeds_its_capacity_and_counts_every_offer():
    rng = np.random.default_rng(5)
    sample = sig.StrangerSample()
    for _ in range(300):
        sample = sample.add(rng.uniform(0, 1, 32), rng)
    assert sample.distances.size == sig.SAMPLE_CAPACITY
    assert sample.seen == 300 * 32


def test_the_reservoir_keeps_every_offer_with_the_same_probability():
    rng = np.random.default_rng(6)
    offers = 4 * sig.SAMPLE_CAPACITY
    kept = np.zeros(offers)
    for _ in range(40):
        sample = sig.StrangerSample()
        for start in range(0, offers, 512):
            sample = sample.add(np.arange(start, start + 512, dtype=np.float32), rng)
        kept[sample.distances.astype(int)] += 1
    quarters = kept.reshape(4, -1).sum(axis=1) / (40 * sig.SAMPLE_CAPACITY)
    assert np.allclose(quarters, 0.25, atol=0.02)


def test_adding_leaves_the_original_sample_unchanged():
    rng = np.random.default_rng(7)
    sample = sig.StrangerSample(np.full(sig.SAMPLE_CAPACITY, 0.5), 10_000)
    sample.add(np.zeros(1000), rng)
    assert np.all(sample.distances == 0.5) and sample.seen == 10_000


def test_the_sample_survives_bytes_and_stays_small():
    sample = sig.StrangerSample(strangers(sig.SAMPLE_CAPACITY, 8), 123_456)
    data = sample.to_bytes()
    again = sig.StrangerSample.from_bytes(data)
    assert again.seen == 123_456
    assert np.allclose(again.distances, sample.distances, atol=1e-6)
    assert len(data) < 64 * 1024


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_stranger_pairs_leave_out_same_label_pairs_and_exact_duplicates():
    rng = np.random.default_rng(9)
    gallery = unit(rng.normal(size=(6, 128)))
    labels = ["ann", "ann", "bob", None, None, "cid"]
    new = gallery[[0]]  # ann's first face again: itself is a duplicate, the second face shares the label
    found = sig.stranger_distances(new, ["ann"], gallery, labels, rng, per_face=10)
    expected = sorted(1.0 - gallery[[2, 3, 4, 5]] @ new[0])
    assert np.allclose(sorted(found), expected, atol=1e-6)


def test_unlabelled_faces_share_nothing_but_duplicates_are_still_left_out():
    rng = np.random.default_rng(10)
    gallery = unit(rng.normal(size=(4, 128)))
    found = sig.stranger_distances(gallery[[3]], [None], gallery, [None, None, None, None], rng, per_face=10)
    assert found.size == 3 and np.all(found >= 1e-6)


def test_stranger_pairs_are_bounded_per_face_whatever_the_gallery_size():
    rng = np.random.default_rng(11)
    gallery = unit(rng.normal(size=(5000, 128)))
    found = sig.stranger_distances(gallery[:3], ["a", "b", "c"], gallery, [str(i) for i in range(5000)], rng)
    assert found.size == 3 * sig.PAIRS_PER_FACE


def test_the_e_value_is_the_probability_times_the_faces_searched():
    assert sig.expected_false_matches(2e-3, 1000) == pytest.approx(2.0)


def test_a_duplicate_is_significant_only_when_corrected_for_its_comparisons():
    estimate = sig.reference("Dlib")
    distance = estimate.distance_at(1e-5)
    assert sig.significant_duplicate(distance, 100, estimate)  # E = 1e-3
    assert not sig.significant_duplicate(distance, 10_000, estimate)  # E = 0.1
    assert sig.significant_duplicate(distance, 10_000, estimate, max_expected_false_matches=0.5)


def test_the_compare_prefers_its_own_fit_then_the_organization_then_the_reference():
    query = sig.fit_query(np.sort(strangers(100_000, 12))[:64], 100_000, "Dlib")
    organization = sig.fit_sample(sig.StrangerSample(strangers(4096, 13)), "Dlib")
    assert sig.best_estimate(query, organization, "Dlib") is query
    assert sig.best_estimate(None, organization, "Dlib") is organization
    assert sig.best_estimate(sig.reference("Dlib"), None, "Dlib").source == "reference"
    assert sig.best_estimate(None, None, "no-such-model").source == "none"
