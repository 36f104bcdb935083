"""Use case: how sure a match can be in one organization today (significance.py applied to it).

Some of the organization's own faces are used as queries, each searched against all the others
as a compare would, and their per-query tail fits pooled: the distribution of a stranger's
distance to a typical query of this gallery. It costs PROBES searches, linear in its size, and
keeps no state: the faces probed are the same until the organization's vectors change.
"""

from __future__ import annotations

import numpy as np

from facematch import significance
from facematch.config import Settings
from facematch.errors import OrganizationNotFound
from facematch.faces import FaceEmbedder
from facematch.models import Calibration
from facematch.search import VectorStore

PROBES = 32


class Calibrations:
    def __init__(self, settings: Settings, embedder: FaceEmbedder, vectors: VectorStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors

    def of(self, organization: str, max_expected_false_matches: float | None = None) -> Calibration:
        model = self.settings.model
        if max_expected_false_matches is None:
            max_expected_false_matches = self.settings.max_expected_false_matches
        probes = self.vectors.sample(organization, model, PROBES)
        if probes.size == 0:
            raise OrganizationNotFound(f"Organization {organization!r} has no enrolled faces for model {model}.")
        # A compare searches every face; a probe, every face but itself.
        searched = probes.size - 1
        smallest = [] if searched < significance.QUERY_MIN_SEARCHED else [
            self._distances(organization, embed_id, vector) for embed_id, vector in zip(probes.ids, probes.vectors, strict=True)
        ]
        estimate, pooled = significance.pooled(smallest, searched, model)
        return Calibration(
            organization=organization,
            model=model,
            faces=probes.size,
            source=estimate.source,
            probes=pooled,
            pairs=estimate.pairs,
            quantiles=estimate.quantiles(),
            max_expected_false_matches=max_expected_false_matches,
            significant_distance=round(estimate.distance_at(max_expected_false_matches / probes.size), 6),
            threshold=self.embedder.default_threshold,
        )

    def _distances(self, organization: str, embed_id: int, vector: np.ndarray) -> np.ndarray:
        """The probe's smallest distances to the other faces, as a compare of it would see them."""
        found = self.vectors.nearest(
            organization, self.settings.model, vector, significance.QUERY_TAIL + 1, revalidate=False
        )
        others = [max(0.0, 1.0 - c.similarity) for c in found.candidates if c.embed_id != embed_id]
        return np.asarray(others[: significance.QUERY_TAIL])
