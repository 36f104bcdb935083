"""Dlib-like face vectors without the model: unit rows whose stranger distances follow the Dlib
reference (significance.reference("Dlib"), 1,690 stranger pairs of the test photos), and copies
planted near them, for tests and benchmarks of the duplicate report."""

from __future__ import annotations

import numpy as np

# A face is normalise(centre + SIGMA * scale * z), z standard normal: one of CENTRES fixed centres
# near one mean direction (e_0 + RHO * g, g standard normal from the fixed seed CENTRES_SEED), and
# per-dimension scales falling as DECAY**k (mean square 1). Faces of one centre are nearer to each
# other, which gives the reference its long lower tail; the falling scales widen the upper part.
# Fitted once (Nelder-Mead on 900 faces, common random numbers) to the reference's 0.1/1/10/25/
# 50/75/90 % points; on 4,000 faces of other seeds every one of them lies within 0.005 of it (0.1 %:
# 0.071 for 0.067, 10 %: 0.108 for 0.109, 50 %: 0.161 for 0.162, 90 %: 0.201 for 0.200), and the
# lower tail is no heavier (P(d <= 0.05): 6e-7 for 8e-5). tests/unit/test_pair_blocks.py pins it.
SIGMA, DECAY, RHO, CENTRES, CENTRES_SEED = 0.03208, 0.98754, 0.02287, 4, 12345


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def dlib_like(count: int, rng: np.random.Generator, dimensions: int = 128) -> np.ndarray:
    """``count`` float32 unit rows, as far apart as the faces of strangers under Dlib."""
    centres = RHO * np.random.default_rng(CENTRES_SEED).standard_normal((CENTRES, dimensions))
    centres[:, 0] += 1.0
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    scales = DECAY ** np.arange(dimensions)
    scales *= np.sqrt(dimensions / np.sum(scales**2))
    rows = centres[rng.integers(0, CENTRES, count)] + SIGMA * scales * rng.standard_normal((count, dimensions))
    return _unit(rows)


def planted_copies(vectors: np.ndarray, rng: np.random.Generator, distance: float) -> np.ndarray:
    """A copy of each row at cosine distance ``distance`` from it (to float32 precision): the
    row turned by angle arccos(1 - distance) towards a random direction orthogonal to it."""
    vectors = np.asarray(vectors, np.float64)
    away = rng.standard_normal(vectors.shape)
    away -= np.sum(away * vectors, axis=1, keepdims=True) * vectors
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    angle = np.arccos(1.0 - distance)
    return _unit(np.cos(angle) * vectors + np.sin(angle) * away)
