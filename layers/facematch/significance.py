"""How sure a match is: the chance that a stranger comes this close, and how many such chance
matches a search of N faces should expect (an E-value, as BLAST reports for alignments).

The null distribution is that of the cosine distance between a query and the face of a stranger.
Its lower tail is estimated per query (``from_query``) from the smallest distances the compare
computes anyway, nearly all of them to strangers; a search too small to have a tail of its own
uses ``reference``, constants fitted offline to Dlib stranger distances. An organization's
calibration (``mixture``) pools the per-query fits of some of its own faces used as queries.
docs/significance.md has the maths, and the measurements that chose these sources over a stored
sample of each organization's stranger pairs.

Pure numpy and standard library: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facematch.tail_fit import fit_lower_tail, tail_distance, tail_probability

# How many of the smallest distances from_query fits (a compare's search returns
# max(top_k, NEIGHBOURS) candidates).
QUERY_TAIL = 64
# The lowest ranks of a compare never feed its fit, whatever ``exclude`` says: other photos of the
# person found are there, and would make every stranger look closer (bench/significance.py).
QUERY_CENSORED = 8
# How many nearest faces a search hands from_neighbours: QUERY_TAIL for the fit, and as many
# again for the nearest face's cluster, which the fit leaves out.
NEIGHBOURS = 2 * QUERY_TAIL
# A compare of fewer faces has no tail of its own to fit (64 of 640 is already the lowest 10 %).
QUERY_MIN_SEARCHED = 10 * QUERY_TAIL
# Fewer points than this above the censored ones: no fit of its own, the reference serves.
MIN_FIT_POINTS = 16
# The probabilities at which an estimate reports its distances (the calibration's quantiles).
QUANTILES = ("0.000001", "0.00001", "0.0001", "0.001", "0.01", "0.1", "0.5")

# Fitted to the Dlib stranger distances of the test photos by bench/significance.py (see
# docs/significance.md): 1,690 pairs of different people among 61 photos of 13 people, the
# lowest 10 % in the generalized Pareto tail. Knots: (distance, P(d <= distance)).
_REFERENCES: dict[str, dict] = {
    "Dlib": {"pairs": 1690, "threshold": 0.109405, "mass": 0.1, "shape": -0.1, "scale": 0.0116, "knots": [[0.109405, 0.1], [0.115977, 0.139053], [0.124032, 0.178107], [0.130173, 0.21716], [0.136394, 0.256805], [0.141401, 0.295858], [0.145513, 0.334911], [0.150597, 0.373964], [0.154289, 0.413018], [0.157694, 0.452071], [0.161626, 0.491124], [0.164398, 0.530178], [0.167819, 0.569822], [0.170889, 0.608876], [0.174497, 0.647929], [0.177664, 0.686982], [0.180725, 0.726036], [0.184998, 0.765089], [0.188447, 0.804142], [0.192197, 0.843195], [0.197037, 0.88284], [0.204188, 0.921893], [0.213556, 0.960947], [0.262685, 1.0]]},
}


@dataclass(frozen=True)
class TailEstimate:
    """P(a stranger's distance <= d): a generalized Pareto tail below ``threshold`` (holding
    ``mass`` of the probability), knots above it; or a weighted mixture of ``parts``."""

    source: str
    pairs: int
    threshold: float = 0.0
    mass: float = 1.0
    shape: float = 0.0
    scale: float = 1.0
    knots: tuple[tuple[float, float], ...] = ()
    parts: tuple[tuple[float, TailEstimate], ...] = ()

    def probability(self, distance: float) -> float:
        """P(a stranger's distance <= distance), in [0, 1], non-decreasing in distance."""
        distance = float(distance)
        if self.parts:
            value = sum(weight * part.probability(distance) for weight, part in self.parts)
        elif distance < self.threshold:
            value = tail_probability(distance, self.threshold, self.mass, self.shape, self.scale)
        else:
            xs, ps = self._body()
            value = float(np.interp(distance, xs, ps, right=1.0))
        return min(1.0, max(0.0, value))

    def distance_at(self, probability: float) -> float:
        """The distance at which probability() reaches ``probability``."""
        probability = min(1.0, max(0.0, float(probability)))
        if self.parts:
            low, high = -1.0, 2.0
            for _ in range(60):
                middle = (low + high) / 2
                if self.probability(middle) < probability:
                    low = middle
                else:
                    high = middle
            return max(0.0, high)
        if probability <= self.mass:
            return max(0.0, tail_distance(probability, self.threshold, self.mass, self.shape, self.scale))
        xs, ps = self._body()
        return float(np.interp(probability, ps, xs))

    def covers(self) -> float:
        """The largest probability whose distance was seen rather than guessed: a per-query fit
        sees only the lowest QUERY_TAIL of N distances (and the reference's knots above them)."""
        if self.parts:
            return min(part.covers() for _, part in self.parts)
        return max([self.mass, *(p for _, p in self.knots)])

    def quantiles(self) -> dict[str, float]:
        """The distance within which each share of QUANTILES of the strangers lies, where covered."""
        return {key: round(self.distance_at(float(key)), 6) for key in QUANTILES if float(key) <= self.covers()}

    def _body(self) -> tuple[np.ndarray, np.ndarray]:
        points = [(self.threshold, self.mass), *self.knots]
        if points[-1][1] < 1.0:
            points.append((max(2.0, points[-1][0]), 1.0))
        xs, ps = np.array(points).T
        return xs, np.maximum.accumulate(ps)


_NOTHING_KNOWN = TailEstimate("none", 0, threshold=0.0, mass=1.0, scale=1e-9)


def reference(model: str) -> TailEstimate | None:
    """The offline estimate for ``model``, or None where none was measured."""
    constants = _REFERENCES.get(model)
    if constants is None:
        return None
    return TailEstimate(
        "reference",
        constants["pairs"],
        threshold=constants["threshold"],
        mass=constants["mass"],
        shape=constants["shape"],
        scale=constants["scale"],
        knots=tuple((float(d), float(p)) for d, p in constants["knots"]),
    )


def fallback(model: str) -> TailEstimate:
    """The reference, or where none was measured an estimate under which nothing is significant."""
    return reference(model) or _NOTHING_KNOWN


def _above(model: str, threshold: float, mass: float) -> tuple[tuple[float, float], ...]:
    """The reference's knots beyond (threshold, mass): the body of a fit that saw only its tail."""
    prior = reference(model)
    if prior is None:
        return ()
    return tuple((d, p) for d, p in prior.knots if p > mass and d > threshold)


def fit_query(smallest_distances: np.ndarray, searched: int, model: str, exclude: int = 1) -> TailEstimate | None:
    """The per-query fit (None when too few points): from_query without the reference."""
    distances = np.sort(np.asarray(smallest_distances, dtype=np.float64).ravel())[: max(0, searched)]
    count, exclude = distances.size, max(exclude, QUERY_CENSORED)
    if count - exclude < MIN_FIT_POINTS or searched <= 0:
        return None
    ranks = np.arange(1, count + 1)
    threshold, shape, scale = fit_lower_tail(distances[exclude:], ranks[exclude:], count)
    mass = count / searched
    return TailEstimate(
        "query", searched - exclude, threshold=threshold, mass=mass, shape=shape, scale=scale,
        knots=_above(model, threshold, mass),
    )


def from_query(smallest_distances: np.ndarray, searched: int, model: str, exclude: int = 1) -> TailEstimate:
    """The tail from one compare's ``QUERY_TAIL`` smallest distances out of ``searched``.

    The first ``max(exclude, QUERY_CENSORED)`` are censored: under the null hypothesis they are
    strangers too, so the others keep their ranks among N. Under QUERY_MIN_SEARCHED faces, the
    reference. Not blended with it above: the blend made the E-values worse at every size
    measured (docs/significance.md).
    """
    own = fit_query(smallest_distances, searched, model, exclude) if searched >= QUERY_MIN_SEARCHED else None
    return fallback(model) if own is None else own


def from_neighbours(
    smallest_distances: np.ndarray, to_nearest: np.ndarray, searched: int, model: str, same_person: float
) -> TailEstimate:
    """``from_query``, with the nearest face's cluster left out: the faces within ``same_person``
    of the nearest one (itself included), ``to_nearest`` being each one's distance to it.

    A person held many times would otherwise fill the lowest ranks with their own photos, which
    the fit reads as strangers this close: one photo held 10 times was never significant, 4 times
    rarely. Left out, they count neither as points nor as ranks. Under the null hypothesis the
    nearest face is a stranger, and leaving out its cluster flagged no stranger in
    bench/significance.py's trials, whether held once or 80 times (docs/significance.md)."""
    distances = np.asarray(smallest_distances, dtype=np.float64)
    cluster = np.asarray(to_nearest) <= same_person
    if cluster.sum() <= 1:
        return from_query(distances, searched, model)
    return from_query(distances[~cluster], searched - int(cluster.sum()), model)


def expected_false_matches(probability: float, searched: int) -> float:
    """The E-value: how many of ``searched`` strangers are expected this close by chance."""
    return float(probability) * int(searched)


def significant_duplicate(
    distance: float, comparisons: int, estimate: TailEstimate, max_expected_false_matches: float = 0.01
) -> bool:
    """Whether a pair found among ``comparisons`` is too close to be chance: E < the bound."""
    return expected_false_matches(estimate.probability(distance), comparisons) < max_expected_false_matches


def pooled(smallest_per_probe: list[np.ndarray], searched: int, model: str) -> tuple[TailEstimate, int]:
    """An organization's calibration, and how many probes it pools: the per-query fits of some of
    its own faces (probes), each searched against the ``searched`` others (``smallest_per_probe``:
    each one's QUERY_TAIL smallest distances), pooled by ``mixture``; the reference (0 probes)
    when too few faces are held."""
    fits = [] if searched < QUERY_MIN_SEARCHED else [fit_query(d, searched, model) for d in smallest_per_probe]
    fits = [fit for fit in fits if fit is not None]
    return (mixture(fits, "query"), len(fits)) if fits else (fallback(model), 0)


def mixture(estimates: list[TailEstimate], source: str) -> TailEstimate:
    """The distribution of a stranger's distance to a query drawn from ``estimates``' queries:
    the mean of their probabilities, backed by all their pairs."""
    if len(estimates) == 1:
        return estimates[0]
    weight = 1.0 / len(estimates)
    return TailEstimate(
        source, sum(estimate.pairs for estimate in estimates), parts=tuple((weight, e) for e in estimates)
    )
