"""Which faces an organization already holds that a new face duplicates: significant matches, as
match_rule=significance decides them (within the model's threshold, and
significance.significant_duplicate), not faces merely within the threshold. At 1,000 faces the
threshold alone would flag one to three strangers for a newcomer.

A request's faces are screened as if enrolled one after another, in order: each against the
faces held, and against the request's earlier faces that are to be stored. Under
``on_duplicate="skip"`` a face with a duplicate is not stored, so a later face is not compared
with it. Two requests screen against what is held when each one runs: two photos of one new
person sent at once in two requests are both stored (docs/enrollment-screening.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from facematch import significance
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.models import MAX_DUPLICATES, Duplicate, OnDuplicate
from facematch.search import Neighbours, VectorStore


@dataclass(frozen=True)
class Found:
    """One duplicate: a face held (``embed_id``), or an earlier face of the same request
    (``earlier``, its index), whose id is known once it is stored."""

    distance: float
    expected_false_matches: float
    embed_id: int | None = None
    external_id: str | None = None
    earlier: int | None = None

    def shown(self, earlier_ids: dict[int, int], external_id: str | None) -> Duplicate:
        if self.earlier is None:
            embed_id, label = self.embed_id, self.external_id
        else:
            embed_id, label = earlier_ids[self.earlier], external_id
        return Duplicate(
            embed_id=embed_id, external_id=label, distance=self.distance,
            expected_false_matches=float(f"{self.expected_false_matches:.4g}"),
        )


@dataclass(frozen=True)
class Screening:
    """Each face's duplicates, best first, and whether it is to be stored."""

    duplicates: list[list[Found]]
    stored: list[bool]


class DuplicateFinder:
    def __init__(self, settings: Settings, vectors: VectorStore, catalog: Catalog, same_person: float) -> None:
        self.settings = settings
        self.vectors = vectors
        self.catalog = catalog
        # The model's threshold: a duplicate is within it, and so are the nearest face's other
        # photos, which the stranger tail leaves out.
        self.same_person = same_person

    def relabelled(self, organization: str, kept: dict[str, Any]) -> dict[str, Any]:
        """A kept answer or upload outcome (``without_labels``) with its duplicates' labels read
        again; a duplicate erased since is left out."""
        body = {**kept}
        holders = list(_holders(body))
        ids = sorted({duplicate["embed_id"] for holder in holders for duplicate in holder["duplicates"]})
        labels = self.catalog.labels(organization, ids) if ids else {}
        for holder in holders:
            holder["duplicates"] = [
                {**duplicate, **({"external_id": labels[duplicate["embed_id"]]} if labels[duplicate["embed_id"]] else {})}
                for duplicate in holder["duplicates"]
                if duplicate["embed_id"] in labels
            ]
        return body

    def prepare(self, organization: str) -> int:
        """Bring the organization's warm vectors up to date: one manifest read when warm."""
        return self.vectors.refresh(organization, self.settings.model)

    def screen(
        self,
        organization: str,
        queries: np.ndarray,
        on_duplicate: OnDuplicate,
        *,
        ignore: frozenset[int] = frozenset(),
        decided: list[bool] | None = None,
    ) -> Screening:
        """Screen the request's faces (rows of ``queries``, unit vectors) against the faces held,
        but those of ``ignore`` (this enrollment's own, stored by an earlier attempt).
        ``decided``: which faces to store, as an earlier attempt decided; otherwise ``on_duplicate``
        decides."""
        bound = self.settings.max_expected_false_matches
        nearest, searched, tails = self._held(organization, queries, ignore)
        # A face is compared with those held and with the request's earlier ones.
        comparisons = [searched + index for index in range(len(queries))]
        # The nearest significant ones, with a margin for those erased since the vectors were read.
        held = self._labelled(organization, [
            [
                Found(distance, significance.expected_false_matches(tail.probability(distance), count), embed_id)
                for embed_id, distance in pairs
                if self._significant_match(distance, count, tail, bound)
            ][: 2 * MAX_DUPLICATES]
            for pairs, tail, count in zip(nearest, tails, comparisons, strict=True)
        ])
        duplicates: list[list[Found]] = []
        stored: list[bool] = []
        for index, query in enumerate(queries):
            found = list(held[index])
            for earlier in range(index):
                distance = _distance(query, queries[earlier])
                if stored[earlier] and self._significant_match(distance, comparisons[index], tails[index], bound):
                    expected = significance.expected_false_matches(tails[index].probability(distance), comparisons[index])
                    found.append(Found(distance, expected, earlier=earlier))
            found = sorted(found, key=lambda duplicate: duplicate.distance)[:MAX_DUPLICATES]
            duplicates.append(found)
            stored.append(decided[index] if decided is not None else on_duplicate == "allow" or not found)
        return Screening(duplicates, stored)

    def _significant_match(
        self, distance: float, comparisons: int, tail: significance.TailEstimate, bound: float
    ) -> bool:
        """A match under match_rule=significance: within the model's threshold, and too close to
        be chance among ``comparisons`` faces."""
        return distance <= self.same_person and significance.significant_duplicate(distance, comparisons, tail, bound)

    def _held(
        self, organization: str, queries: np.ndarray, ignore: frozenset[int]
    ) -> tuple[list[list[tuple[int, float]]], int, list[significance.TailEstimate]]:
        """Each query's nearest held faces (id, distance), how many were searched, and each
        query's tail of stranger distances (without the nearest face's cluster)."""
        model = self.settings.model
        neighbours = self.vectors.nearest_each(
            organization, model, queries, significance.NEIGHBOURS + len(ignore), revalidate=False
        )
        nearest, tails, searched = [], [], 0
        for found in neighbours:
            kept = [i for i, c in enumerate(found.candidates) if c.embed_id not in ignore][: significance.NEIGHBOURS]
            searched = found.searched - (len(found.candidates) - len(kept))
            pairs = [(c.embed_id, round(max(0.0, 1.0 - c.similarity), 6)) for c in (found.candidates[i] for i in kept)]
            # Without this enrollment's own faces, the nearest is the first kept one.
            to_nearest = _to_first_kept(found, kept)
            tails.append(significance.from_neighbours(
                np.array([distance for _, distance in pairs]), to_nearest, searched, model, self.same_person
            ))
            nearest.append(pairs)
        return nearest, searched, tails

    def _labelled(self, organization: str, duplicates: list[list[Found]]) -> list[list[Found]]:
        """The duplicates still held (one erased since the vectors were read is not), with their
        labels."""
        ids = sorted({found.embed_id for faces in duplicates for found in faces})
        labels = self.catalog.labels(organization, ids) if ids else {}
        return [
            [
                Found(found.distance, found.expected_false_matches, found.embed_id, labels[found.embed_id])
                for found in faces
                if found.embed_id in labels
            ]
            for faces in duplicates
        ]


def without_labels(body: dict[str, Any]) -> dict[str, Any]:
    """An enrollment's answer or an upload's outcome as it is kept (a stored answer, an upload
    record): its duplicates without their labels. A duplicate is another face, whose deletion
    does not delete what names it; kept without its label, erasing a person erases their label
    everywhere. ``DuplicateFinder.relabelled`` puts the labels back when it is read."""
    body = {**body}
    for holder in _holders(body):
        holder["duplicates"] = [
            {name: value for name, value in duplicate.items() if name != "external_id"}
            for duplicate in holder["duplicates"]
        ]
    return body


def _holders(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The parts of ``body`` that list duplicates (copied, so the caller may change them): the
    outcome itself, or an answer's embeddings and skipped photos."""
    if "duplicates" in body:
        yield body
    for section in ("embeddings", "skipped"):
        if isinstance(body.get(section), list):
            body[section] = [{**entry} for entry in body[section]]
            yield from (entry for entry in body[section] if "duplicates" in entry)


def _to_first_kept(found: Neighbours, kept: list[int]) -> np.ndarray:
    """Each kept candidate's distance to the first kept one; when that is not the nearest found
    (this enrollment's own face is), unknown, so no cluster is left out."""
    if kept and kept[0] == 0:
        return found.to_nearest[kept]
    return np.full(len(kept), np.inf)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine distance of two unit vectors, as answers show it."""
    return round(max(0.0, 1.0 - float(np.dot(a, b))), 6)
