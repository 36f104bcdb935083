"""The lower tail of a distance distribution: a generalized Pareto fit below a threshold, and the
piecewise distribution built from it (numpy only; the maths is in docs/significance.md).

Below the threshold ``u`` (the distance of the m-th smallest of ``total`` strangers, so that
``p_u = m / total`` of them lie at or below it), the excess ``y = u - d`` is modelled as a
generalized Pareto variable: ``P(d <= t) = p_u * (1 + xi * (u - t) / sigma) ** (-1 / xi)``.
Above ``u`` the distribution is interpolated between knots ``(distance, probability)``.
"""

from __future__ import annotations

import numpy as np

# The shapes tried by the fit. Distances are bounded below by 0, so the true lower tail has a
# shape of at most 0; a fit from about 56 points that allows more (up to 0.5 was tried) fits their
# noise, and its heavy extrapolations left half the mated searches of the test photos
# insignificant (bench/significance.py). Below -0.1 a fit puts the end of the tail (P = 0) within
# reach of ordinary strangers: E-values 1.6 to 3 times too small at E = 0.1 with the bound at
# -0.15 to -0.3.
SHAPES = np.round(np.linspace(-0.1, 0.0, 11), 4)


def _excess_quantile(survival: np.ndarray, shape: float) -> np.ndarray:
    """y / sigma at the given survival probabilities of the excess."""
    if abs(shape) < 1e-9:
        return -np.log(survival)
    return (survival ** (-shape) - 1.0) / shape


def fit_lower_tail(smallest: np.ndarray, ranks: np.ndarray, count_below: int) -> tuple[float, float, float]:
    """Fit (threshold, shape, scale) to the order statistics ``smallest`` (ascending) at ``ranks``
    (1-based positions among all strangers, ascending; any lower ranks left out are censored).

    The threshold is the distance at rank ``count_below``; the others feed a least-squares fit of
    the excess quantile function ``y = sigma * ((S ** -xi) - 1) / xi`` to their plotting positions
    ``S = (rank - 0.5) / count_below``: sigma in closed form for each xi of a grid.
    """
    threshold = float(smallest[-1])
    keep = ranks < count_below
    excess = threshold - smallest[keep].astype(np.float64)
    survival = (ranks[keep] - 0.5) / count_below
    fallback = (threshold, 0.0, max(float(np.mean(excess)), 1e-6) if excess.size else 1e-6)
    if excess.size < 3 or not np.any(excess > 0):
        return fallback
    # One row per shape of the grid, all at once: the fit runs on every compare.
    logs = -np.log(survival)
    shapes = SHAPES[:, None]
    safe = np.where(np.abs(shapes) < 1e-9, 1.0, shapes)
    g = np.where(np.abs(shapes) < 1e-9, logs, np.expm1(shapes * logs) / safe)
    scales = (g @ excess) / np.einsum("ij,ij->i", g, g)
    errors = np.sum((excess - scales[:, None] * g) ** 2, axis=1)
    errors[scales <= 0] = np.inf
    best = int(np.argmin(errors))
    if not np.isfinite(errors[best]):
        return fallback
    return threshold, float(SHAPES[best]), float(scales[best])


def tail_probability(distance: float, threshold: float, mass: float, shape: float, scale: float) -> float:
    """P(d <= distance) for distance below the threshold."""
    z = (threshold - distance) / scale
    if abs(shape) < 1e-9:
        return mass * float(np.exp(-z))
    base = 1.0 + shape * z
    if base <= 0:
        return 0.0
    return mass * float(base ** (-1.0 / shape))


def tail_distance(probability: float, threshold: float, mass: float, shape: float, scale: float) -> float:
    """The inverse of tail_probability, for probability in [0, mass]."""
    if probability <= 0:
        return threshold + scale / shape if shape < 0 else float("-inf")
    return threshold - scale * float(_excess_quantile(np.array([probability / mass]), shape)[0])
