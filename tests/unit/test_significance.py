"""The significance estimator: bounds, monotonicity, calibration on draws from a known
distribution, censoring, the pooled estimate of a calibration, and the duplicate rule."""

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
        sig.mixture([sig.fit_query(np.sort(strangers(10_000, seed))[: sig.QUERY_TAIL], 10_000, "Dlib")
                     for seed in (2, 3, 4)], "query"),
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
    quantiles = estimate.quantiles()
    assert set(quantiles) == {key for key in sig.QUANTILES if float(key) <= estimate.covers()}
    assert "0.000001" in quantiles and list(quantiles.values()) == sorted(quantiles.values())


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


def test_the_candidates_and_the_lowest_ranks_do_not_feed_the_query_fit():
    tail = np.sort(strangers(100_000, 3))[: sig.QUERY_TAIL]
    moved = tail.copy()
    moved[: sig.QUERY_CENSORED] = 0.0  # other photos of the person found, far closer than strangers
    a, b = sig.fit_query(tail, 100_000, "Dlib"), sig.fit_query(moved, 100_000, "Dlib", exclude=1)
    assert (a.threshold, a.shape, a.scale) == (b.threshold, b.shape, b.scale)


def test_a_search_of_under_641_faces_uses_the_reference():
    small = np.sort(strangers(sig.QUERY_MIN_SEARCHED - 1, 4))[: sig.QUERY_TAIL]
    assert sig.from_query(small, sig.QUERY_MIN_SEARCHED - 1, "Dlib").source == "reference"
    assert sig.from_query(small, sig.QUERY_MIN_SEARCHED, "Dlib").source == "query"


def test_without_a_reference_too_few_distances_make_nothing_significant():
    estimate = sig.from_query(np.array([0.01, 0.2]), 2, "no-such-model")
    assert estimate.probability(0.0) == pytest.approx(1.0)
    assert sig.reference("no-such-model") is None


def test_the_e_value_is_the_probability_times_the_faces_searched():
    assert sig.expected_false_matches(2e-3, 1000) == pytest.approx(2.0)


def test_a_duplicate_is_significant_only_when_corrected_for_its_comparisons():
    estimate = sig.reference("Dlib")
    distance = estimate.distance_at(1e-5)
    assert sig.significant_duplicate(distance, 100, estimate)  # E = 1e-3
    assert not sig.significant_duplicate(distance, 10_000, estimate)  # E = 0.1
    assert sig.significant_duplicate(distance, 10_000, estimate, max_expected_false_matches=0.5)


def test_a_pooled_estimate_averages_its_parts_and_counts_all_their_pairs():
    fits = [sig.fit_query(np.sort(strangers(10_000, seed))[: sig.QUERY_TAIL], 10_000, "Dlib") for seed in (5, 6)]
    pooled = sig.mixture(fits, "query")
    assert pooled.pairs == sum(fit.pairs for fit in fits)
    for distance in (0.02, 0.06, 0.1, 0.2):
        assert pooled.probability(distance) == pytest.approx(np.mean([f.probability(distance) for f in fits]))
    assert sig.mixture(fits[:1], "query") is fits[0]


def test_the_nearest_faces_cluster_is_left_out_of_the_tail_as_points_and_as_ranks():
    distances = np.sort(strangers(100_000, 3))[:128]
    alone = np.full(128, 1.0)
    alone[0] = 0.0
    # Only the nearest face itself within the threshold of it: as from_query.
    assert sig.from_neighbours(distances, alone, 100_000, "Dlib", 0.07) == sig.from_query(distances, 100_000, "Dlib")
    # Twelve photos of one person in front: the tail is that of the strangers behind them.
    copies = np.concatenate([np.linspace(0.01, 0.03, 12), distances[:116]])
    to_nearest = np.concatenate([np.full(12, 0.02), np.full(116, 0.5)])
    clustered = sig.from_neighbours(copies, to_nearest, 100_012, "Dlib", 0.07)
    assert clustered == sig.from_query(distances[:116], 100_000, "Dlib")
    assert clustered.probability(0.02) < sig.from_query(copies, 100_012, "Dlib").probability(0.02) / 10
