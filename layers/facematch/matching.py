"""Use case: who in an organization a photo shows. The query photo is embedded while the
organization's vectors are brought up to date, then the nearest live faces are answered, each
with how likely a stranger is to come that close (significance.py, docs/significance.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from facematch import significance
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import OrganizationNotFound
from facematch.faces import FaceEmbedder
from facematch.inputs import ImageInput
from facematch.models import ComparisonResult, Match, MatchRule
from facematch.search import Candidate, VectorStore

MAX_TOP_K = 100


class Matching:
    def __init__(self, settings: Settings, embedder: FaceEmbedder, vectors: VectorStore, catalog: Catalog) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self.catalog = catalog
        # Brings the organization's vectors up to date while the query photo is being embedded.
        self._background = ThreadPoolExecutor(max_workers=1)

    def compare(
        self,
        organization: str,
        image: ImageInput,
        *,
        threshold: float | None = None,
        top_k: int = 1,
        match_rule: MatchRule | None = None,
        max_expected_false_matches: float | None = None,
    ) -> ComparisonResult:
        """The ``top_k`` best matches of the photo's largest face; ``threshold``: the cosine
        distance within which one is a match (the model's own by default); ``match_rule`` and
        ``max_expected_false_matches``: the deployment's by default."""
        refreshed = self._background.submit(self.vectors.refresh, organization, self.settings.model)
        try:
            face = self.embedder.embed_photo(
                image.raw_bytes(), max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels
            )
        finally:
            wait([refreshed])  # never leave a read running past the request
        refreshed.result()
        threshold = self.embedder.default_threshold if threshold is None else threshold
        rule = match_rule or self.settings.match_rule
        if max_expected_false_matches is None:
            max_expected_false_matches = self.settings.max_expected_false_matches
        matches, searched = self.matches_of(
            organization, face.vector, top_k, threshold, revalidate=False,
            rule=rule, max_expected_false_matches=max_expected_false_matches,
        )
        return ComparisonResult(
            **matches[0].model_dump(), threshold=threshold, match_rule=rule,
            max_expected_false_matches=max_expected_false_matches, faces_searched=searched,
            model=self.settings.model, face=face.box, matches=matches,
        )

    def match(
        self, organization: str, vector: np.ndarray, top_k: int, threshold: float, *, revalidate: bool = True
    ) -> list[Match]:
        """The ``top_k`` nearest live faces, best first, by the threshold rule."""
        return self.matches_of(organization, vector, top_k, threshold, revalidate=revalidate)[0]

    def matches_of(
        self,
        organization: str,
        vector: np.ndarray,
        top_k: int,
        threshold: float,
        *,
        revalidate: bool = True,
        rule: MatchRule = "threshold",
        max_expected_false_matches: float = 0.01,
    ) -> tuple[list[Match], int]:
        """The ``top_k`` nearest live faces, best first, and how many faces were searched."""
        wanted = max(top_k, significance.QUERY_TAIL)
        for attempt in range(2):
            found = self.vectors.nearest(
                organization, self.settings.model, vector, wanted, revalidate=revalidate or attempt > 0
            )
            best = found.candidates[:top_k]
            if not best:
                raise self._nothing_enrolled(organization)
            labels = self.catalog.labels(organization, [c.embed_id for c in best])
            # A face erased since the vectors were read has lost its metadata: search again.
            if all(c.embed_id in labels for c in best):
                break
        tail = significance.from_query(_distances(found.candidates), found.searched, self.settings.model)
        matches = []
        for candidate in best:
            if candidate.embed_id not in labels:
                continue
            # Decided on the distance as answered, so that a caller who sends an answer's
            # distance back as the threshold gets a match, as `distance <= threshold` reads.
            distance = _distances([candidate])[0]
            probability = tail.probability(distance)
            expected = significance.expected_false_matches(probability, found.searched)
            significant = expected < max_expected_false_matches
            matches.append(
                Match(
                    embed_id=candidate.embed_id,
                    external_id=labels[candidate.embed_id],
                    similarity_score=round(1.0 - distance, 6),
                    distance=distance,
                    match=distance <= threshold and (rule == "threshold" or significant),
                    false_match_probability=float(f"{probability:.4g}"),
                    expected_false_matches=float(f"{expected:.4g}"),
                    significant=significant,
                )
            )
        if not matches:
            raise self._nothing_enrolled(organization)
        return matches, found.searched

    def _nothing_enrolled(self, organization: str) -> OrganizationNotFound:
        return OrganizationNotFound(
            f"Organization {organization!r} has no enrolled faces for model {self.settings.model}."
        )


def _distances(candidates: list[Candidate]) -> np.ndarray:
    """Cosine distances as answered: rounded to 6 digits, never below 0."""
    return np.asarray([round(max(0.0, 1.0 - c.similarity), 6) for c in candidates])
