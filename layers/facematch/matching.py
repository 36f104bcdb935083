"""Use case: who in an organization a photo shows. The query photo is embedded while the
organization's vectors are brought up to date, then the nearest live faces are answered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import OrganizationNotFound
from facematch.faces import FaceEmbedder
from facematch.inputs import ImageInput
from facematch.models import ComparisonResult, Match
from facematch.search import VectorStore

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
        self, organization: str, image: ImageInput, *, threshold: float | None = None, top_k: int = 1
    ) -> ComparisonResult:
        """The ``top_k`` best matches of the photo's largest face; ``threshold``: the cosine
        distance within which one is a match (the model's own by default)."""
        refreshed = self._background.submit(self.vectors.refresh, organization, self.settings.model)
        try:
            face = self.embedder.embed_photo(
                image.raw_bytes(), max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels
            )
        finally:
            wait([refreshed])  # never leave a read running past the request
        refreshed.result()
        threshold = self.embedder.default_threshold if threshold is None else threshold
        matches = self.match(organization, face.vector, top_k, threshold, revalidate=False)
        return ComparisonResult(
            **matches[0].model_dump(), threshold=threshold, model=self.settings.model, face=face.box, matches=matches
        )

    def match(
        self, organization: str, vector: np.ndarray, top_k: int, threshold: float, *, revalidate: bool = True
    ) -> list[Match]:
        """The ``top_k`` nearest live faces, best first."""
        for attempt in range(2):
            candidates = self.vectors.search(
                organization, self.settings.model, vector, top_k, revalidate=revalidate or attempt > 0
            )
            if not candidates:
                raise self._nothing_enrolled(organization)
            labels = self.catalog.labels(organization, [c.embed_id for c in candidates])
            # A face erased since the vectors were read has lost its metadata: search again.
            if all(c.embed_id in labels for c in candidates):
                break
        matches = []
        for candidate in candidates:
            if candidate.embed_id not in labels:
                continue
            # Decided on the distance as answered, so that a caller who sends an answer's
            # distance back as the threshold gets a match, as `distance <= threshold` reads.
            distance = round(max(0.0, 1.0 - candidate.similarity), 6)
            matches.append(
                Match(
                    embed_id=candidate.embed_id,
                    external_id=labels[candidate.embed_id],
                    similarity_score=round(1.0 - distance, 6),
                    distance=distance,
                    match=distance <= threshold,
                )
            )
        if not matches:
            raise self._nothing_enrolled(organization)
        return matches

    def _nothing_enrolled(self, organization: str) -> OrganizationNotFound:
        return OrganizationNotFound(
            f"Organization {organization!r} has no enrolled faces for model {self.settings.model}."
        )
