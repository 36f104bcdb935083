"""Use case: who in an organization a photo shows. The query photo is embedded while the
organization's vectors are brought up to date, then the nearest live faces are answered, each
with how likely a stranger is to come that close (significance.py, docs/significance.md).

A photo's faces (its largest, or all of them) are searched together, in one matrix product. The
answer lists faces, or persons: each person's best face, and how many of theirs are matches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from facematch import significance
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import OrganizationNotFound
from facematch.faces import EmbeddedFace, FaceEmbedder
from facematch.inputs import ImageInput
from facematch.models import ComparisonResult, FaceChoice, FaceComparison, GroupBy, Match, MatchRule
from facematch.search import Candidate, Neighbours, VectorStore

MAX_TOP_K = 100


@dataclass(frozen=True)
class Decision:
    """What makes a match, and how the answer is listed."""

    threshold: float
    rule: MatchRule = "threshold"
    max_expected_false_matches: float = 0.01
    group_by: GroupBy = "embedding"


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
        faces: FaceChoice = "largest",
        group_by: GroupBy = "embedding",
    ) -> ComparisonResult:
        """The ``top_k`` best matches of the photo's largest face (and with ``faces="all"``, of
        each face); ``threshold``: the cosine distance within which one is a match (the model's
        own by default); ``match_rule`` and ``max_expected_false_matches``: the deployment's by
        default; ``group_by="person"``: one entry per person."""
        refreshed = self._background.submit(self.vectors.refresh, organization, self.settings.model)
        try:
            embedded, found = self._embed(image, faces)
        finally:
            wait([refreshed])  # never leave a read running past the request
        refreshed.result()
        decision = Decision(
            threshold=self.embedder.default_threshold if threshold is None else threshold,
            rule=match_rule or self.settings.match_rule,
            max_expected_false_matches=(
                self.settings.max_expected_false_matches
                if max_expected_false_matches is None
                else max_expected_false_matches
            ),
            group_by=group_by,
        )
        answers, searched = self.matches_each(
            organization, np.stack([face.vector for face in embedded]), top_k, decision, revalidate=False
        )
        every_face = (
            {
                "faces": [
                    FaceComparison(**_fields(matches[0]), face=face.box, matches=matches)
                    for face, matches in zip(embedded, answers, strict=True)
                ],
                "faces_left_out": found - len(embedded),
            }
            if faces == "all"
            else {}
        )
        return ComparisonResult(
            **_fields(answers[0][0]), threshold=decision.threshold, match_rule=decision.rule,
            max_expected_false_matches=decision.max_expected_false_matches, faces_searched=searched,
            model=self.settings.model, face=embedded[0].box, matches=answers[0], **every_face,
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
        decision = Decision(threshold, rule, max_expected_false_matches)
        answers, searched = self.matches_each(organization, vector[None, :], top_k, decision, revalidate=revalidate)
        return answers[0], searched

    def matches_each(
        self, organization: str, queries: np.ndarray, top_k: int, decision: Decision, *, revalidate: bool = True
    ) -> tuple[list[list[Match]], int]:
        """The ``top_k`` entries for each query, best first, and how many faces were searched."""
        wanted = max(top_k, significance.NEIGHBOURS)
        for attempt in range(2):
            while True:
                found = self.vectors.nearest_each(
                    organization, self.settings.model, queries, wanted, revalidate=revalidate or attempt > 0
                )
                if not found[0].candidates:
                    raise self._nothing_enrolled(organization)
                shown, labels = self._entries(organization, found, top_k, decision.group_by)
                # Persons share faces: more candidates may be needed for top_k persons.
                if shown is not None or wanted >= found[0].searched:
                    break
                wanted *= 4
            if shown is None:
                shown = [_by_person(neighbours.candidates, labels, top_k, complete=True) for neighbours in found]
            # A face erased since the vectors were read has lost its metadata: search again.
            if all(c.embed_id in labels for entries in shown for c in entries):
                break
        faces_matched = (
            self._faces_matched(organization, queries, shown, labels, decision.threshold)
            if decision.group_by == "person"
            else None
        )
        answers = []
        for index, (neighbours, entries) in enumerate(zip(found, shown, strict=True)):
            # The fit sees the NEIGHBOURS nearest, however far a search for persons went.
            window = significance.NEIGHBOURS
            tail = significance.from_neighbours(
                _distances(neighbours.candidates[:window]), neighbours.to_nearest[:window], neighbours.searched,
                self.settings.model, self.embedder.default_threshold,
            )
            matches = [
                _match(candidate, labels, tail, neighbours.searched, decision, faces_matched, index)
                for candidate in entries
                if candidate.embed_id in labels
            ]
            if not matches:
                raise self._nothing_enrolled(organization)
            answers.append(matches)
        return answers, found[0].searched

    def _embed(self, image: ImageInput, faces: FaceChoice) -> tuple[list[EmbeddedFace], int]:
        limits = {
            "max_bytes": self.settings.max_image_bytes,
            "max_pixels": self.settings.max_image_pixels,
            "max_decoded_bytes": self.settings.max_decoded_bytes,
        }
        if faces == "all":
            return self.embedder.embed_photo_faces(
                image.raw_bytes(), **limits, max_faces=self.settings.max_faces_per_image
            )
        largest = self.embedder.embed_photo(image.raw_bytes(), **limits)
        return [largest], largest.faces_in_image

    def _entries(
        self, organization: str, found: list[Neighbours], top_k: int, group_by: GroupBy
    ) -> tuple[list[list[Candidate]] | None, dict[int, str | None]]:
        """The candidates each query shows, and their labels; None when some query ran out of
        candidates before it had ``top_k`` persons."""
        if group_by == "embedding":
            shown = [neighbours.candidates[:top_k] for neighbours in found]
            return shown, self.catalog.labels(organization, sorted({c.embed_id for e in shown for c in e}))
        ids = sorted({c.embed_id for neighbours in found for c in neighbours.candidates})
        labels = self.catalog.labels(organization, ids)
        entries = [_by_person(neighbours.candidates, labels, top_k) for neighbours in found]
        return (None if any(e is None for e in entries) else entries), labels

    def _faces_matched(
        self,
        organization: str,
        queries: np.ndarray,
        shown: list[list[Candidate]],
        labels: dict[int, str | None],
        threshold: float,
    ) -> list[dict[str, int]]:
        """For each query, how many faces of each person shown lie within the threshold: all
        the person's faces, read from the catalog, not only those among the candidates."""
        persons = {labels[c.embed_id] for entries in shown for c in entries if labels.get(c.embed_id) is not None}
        within = {}
        for person in sorted(persons):
            ids = [record.embed_id for record in self.catalog.embeddings_of(organization, person)]
            distances = self.vectors.distances(organization, self.settings.model, queries, ids)
            within[person] = np.sum(np.round(distances, 6) <= threshold, axis=1)
        return [{person: int(counts[query]) for person, counts in within.items()} for query in range(len(queries))]

    def _nothing_enrolled(self, organization: str) -> OrganizationNotFound:
        return OrganizationNotFound(
            f"Organization {organization!r} has no enrolled faces for model {self.settings.model}."
        )


def _by_person(
    candidates: list[Candidate], labels: dict[int, str | None], top_k: int, *, complete: bool = False
) -> list[Candidate] | None:
    """Each person's best face (an unlabelled face is an entry of its own), best first, up to
    ``top_k``; None when the candidates end first, unless they are ``complete`` (every face)."""
    entries, persons = [], set()
    for candidate in candidates:
        if candidate.embed_id not in labels:
            continue  # erased since it was read
        person = labels[candidate.embed_id]
        if person is not None and person in persons:
            continue
        persons.add(person)
        entries.append(candidate)
        if len(entries) == top_k:
            return entries
    return entries if complete else None


def _match(
    candidate: Candidate,
    labels: dict[int, str | None],
    tail: significance.TailEstimate,
    searched: int,
    decision: Decision,
    faces_matched: list[dict[str, int]] | None,
    query: int,
) -> Match:
    # Decided on the distance as answered, so that a caller who sends an answer's distance back
    # as the threshold gets a match, as `distance <= threshold` reads.
    distance = float(_distances([candidate])[0])
    probability = tail.probability(distance)
    expected = significance.expected_false_matches(probability, searched)
    significant = expected < decision.max_expected_false_matches
    person = labels[candidate.embed_id]
    grouped = {}
    if faces_matched is not None:  # an unlabelled face is a person of one face
        alone = int(distance <= decision.threshold)
        grouped["faces_matched"] = alone if person is None else faces_matched[query][person]
    return Match(
        embed_id=candidate.embed_id,
        external_id=person,
        similarity_score=round(1.0 - distance, 6),
        distance=distance,
        match=distance <= decision.threshold and (decision.rule == "threshold" or significant),
        false_match_probability=float(f"{probability:.4g}"),
        expected_false_matches=float(f"{expected:.4g}"),
        significant=significant,
        **grouped,
    )


def _fields(match: Match) -> dict:
    """A match's fields as set: the answer leaves out what a request did not ask for."""
    return match.model_dump(exclude_unset=True)


def _distances(candidates: list[Candidate]) -> np.ndarray:
    """Cosine distances as answered: rounded to 6 digits, never below 0."""
    return np.asarray([round(max(0.0, 1.0 - c.similarity), 6) for c in candidates])
