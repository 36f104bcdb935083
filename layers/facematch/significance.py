"""How sure a match is: the chance that a stranger comes this close, and how many such chance
matches a search of N faces should expect (an E-value, as BLAST reports for alignments).

The null distribution is that of the cosine distance between a query and the face of a stranger.
Its lower tail is estimated from one of three sources (docs/significance.md has the maths and
the measurements behind each choice):

- ``from_query``: the smallest distances of the compare itself (nearly all to strangers);
- ``from_sample``: a bounded sample of stranger pairs of the organization (``StrangerSample``),
  kept current from each enrollment by ``stranger_distances``;
- ``reference``: constants fitted offline to Dlib stranger distances of the test photos.

Pure numpy and standard library: no I/O here; the callers store the sample beside the shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from facematch.tail_fit import body_knots, fit_lower_tail, tail_distance, tail_probability

# How many of the smallest distances of a compare from_query wants (the search returns
# max(top_k, QUERY_TAIL) candidates).
QUERY_TAIL = 64
# The lowest ranks of a compare never feed its fit, whatever ``exclude`` says: other photos of the
# person found are there, and would make every stranger look closer (bench/significance.py).
QUERY_CENSORED = 8
# A compare of fewer faces has no tail of its own to fit (64 of 640 is already the lowest 10 %).
QUERY_MIN_SEARCHED = 10 * QUERY_TAIL
# Fewer points than this above the censored ones: no fit of its own, the reference serves.
MIN_FIT_POINTS = 16
# Stranger pairs drawn per newly enrolled face, and the most the organization's sample keeps.
PAIRS_PER_FACE = 32
SAMPLE_CAPACITY = 4096
# The share of the organization's sample that the tail fit uses (its lowest distances).
SAMPLE_TAIL_FRACTION = 0.05
# A fit from n stranger distances gets weight n / (n + PRIOR_PAIRS) against the reference.
PRIOR_PAIRS = 256
DUPLICATE_DISTANCE = 1e-6

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

    def quantiles(self) -> dict[str, float]:
        return {key: round(self.distance_at(float(key)), 6) for key in ("0.000001", "0.0001", "0.01", "0.5")}

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


def _blend(own: TailEstimate, model: str) -> TailEstimate:
    prior = reference(model)
    if prior is None:
        return own
    weight = own.pairs / (own.pairs + PRIOR_PAIRS)
    return TailEstimate(
        f"{own.source}+reference", own.pairs, parts=((weight, own), (1.0 - weight, prior))
    )


def _fallback(model: str) -> TailEstimate:
    return reference(model) or _NOTHING_KNOWN


def _above(model: str, threshold: float, mass: float) -> tuple[tuple[float, float], ...]:
    """The reference's knots beyond (threshold, mass): the body of a fit that saw only its tail."""
    prior = reference(model)
    if prior is None:
        return ()
    return tuple((d, p) for d, p in prior.knots if p > mass and d > threshold)


def fit_query(smallest_distances: np.ndarray, searched: int, model: str, exclude: int = 1) -> TailEstimate | None:
    """The per-query fit alone (None when too few points): from_query without the blend."""
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
    reference (best_estimate then prefers the organization's estimate). Not blended above it:
    the blend made the E-values worse at every size measured (docs/significance.md).
    """
    own = fit_query(smallest_distances, searched, model, exclude) if searched >= QUERY_MIN_SEARCHED else None
    return _fallback(model) if own is None else own


class StrangerSample:
    """A uniform sample (reservoir, at most SAMPLE_CAPACITY) of an organization's stranger distances."""

    __slots__ = ("distances", "seen")

    def __init__(self, distances: np.ndarray | None = None, seen: int = 0) -> None:
        values = np.zeros(0, np.float32) if distances is None else np.asarray(distances, np.float32).ravel()
        self.distances = values[:SAMPLE_CAPACITY]
        self.seen = max(int(seen), values.size)

    def add(self, distances: np.ndarray, rng: np.random.Generator) -> StrangerSample:
        """A new sample holding ``distances`` too (Vitter's algorithm R: each of the ``seen``
        distances ever offered is kept with the same probability)."""
        offered = np.asarray(distances, np.float32).ravel()
        room = max(0, SAMPLE_CAPACITY - self.distances.size)
        kept = np.concatenate([self.distances, offered[:room]])
        rest = offered[room:]
        if rest.size:
            positions = self.seen + room + np.arange(1, rest.size + 1)
            slots = rng.integers(0, positions)
            chosen = slots < SAMPLE_CAPACITY
            slots, values = slots[chosen][::-1], rest[chosen][::-1]
            slots, last = np.unique(slots, return_index=True)
            kept[slots] = values[last]
        return StrangerSample(kept, self.seen + offered.size)

    def to_bytes(self) -> bytes:
        values = [round(float(v), 6) for v in self.distances]
        return json.dumps({"version": 1, "seen": self.seen, "distances": values}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> StrangerSample:
        document = json.loads(data)
        return cls(np.asarray(document["distances"], np.float32), int(document["seen"]))


def stranger_distances(
    new_vectors: np.ndarray,
    new_labels: list[str | None],
    gallery_vectors: np.ndarray,
    gallery_labels: list[str | None],
    rng: np.random.Generator,
    per_face: int = PAIRS_PER_FACE,
) -> np.ndarray:
    """Distances from each new face to up to ``per_face`` random gallery faces of other labels
    (None shares nothing), exact duplicates (distance < 1e-6) left out. O(new * per_face * dims)."""
    new_vectors = np.atleast_2d(np.asarray(new_vectors, np.float32))
    gallery = np.asarray(gallery_vectors, np.float32)
    size = gallery.shape[0] if gallery.ndim == 2 else 0
    if size == 0 or per_face <= 0:
        return np.zeros(0, np.float32)
    found = []
    for vector, label in zip(new_vectors, new_labels, strict=True):
        if size <= 2 * per_face:
            picks = rng.permutation(size)
        else:
            picks = np.unique(rng.integers(0, size, 2 * per_face))
            rng.shuffle(picks)
        if label is not None:
            picks = np.array([i for i in picks if gallery_labels[i] != label], dtype=np.int64)
        distances = 1.0 - gallery[picks] @ vector if picks.size else np.zeros(0, np.float32)
        found.append(distances[distances >= DUPLICATE_DISTANCE][:per_face])
    return np.concatenate(found).astype(np.float32) if found else np.zeros(0, np.float32)


def fit_sample(sample: StrangerSample, model: str) -> TailEstimate | None:
    """The per-organization fit alone (None when the sample is too small): from_sample without the blend."""
    distances = np.sort(sample.distances.astype(np.float64))
    count = distances.size
    tail = max(MIN_FIT_POINTS, int(round(SAMPLE_TAIL_FRACTION * count)))
    if count < 2 * tail:
        return None
    threshold, shape, scale = fit_lower_tail(distances[:tail], np.arange(1, tail + 1), tail)
    return TailEstimate(
        "organization", count, threshold=threshold, mass=tail / count, shape=shape, scale=scale,
        knots=body_knots(distances, count, tail),
    )


def from_sample(sample: StrangerSample, model: str) -> TailEstimate:
    """The organization's estimate, blended with the reference while its sample is small."""
    own = fit_sample(sample, model)
    return _fallback(model) if own is None else _blend(own, model)


def expected_false_matches(probability: float, searched: int) -> float:
    """The E-value: how many of ``searched`` strangers are expected this close by chance."""
    return float(probability) * int(searched)


def significant_duplicate(
    distance: float, comparisons: int, estimate: TailEstimate, max_expected_false_matches: float = 0.01
) -> bool:
    """Whether a pair found among ``comparisons`` is too close to be chance: E < the bound."""
    return expected_false_matches(estimate.probability(distance), comparisons) < max_expected_false_matches


def best_estimate(query: TailEstimate | None, organization: TailEstimate | None, model: str) -> TailEstimate:
    """The estimate a compare uses: the query's own when it has one (docs/significance.md)."""
    for candidate in (query, organization):
        if candidate is not None and candidate.source != "reference":
            return candidate
    return _fallback(model)
