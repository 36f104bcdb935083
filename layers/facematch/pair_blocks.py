"""The core of an organization's duplicate report: every pair of its faces close enough to be the
same person, and the groups of faces they make.

An organization of N faces has N(N-1)/2 pairs, too many for one task at millions of faces, so its
vectors are split into blocks and each pair of blocks (i <= j) is one independent task:
``block_pairs``, a float32 matrix product a tile at a time, a loose float32 cut, then the few
candidates again in float64 with the exact cut. ``edge_cut`` turns the significance rule
(significance.significant_duplicate over all N(N-1)/2 comparisons, within the model's threshold)
into one distance, so a task needs no estimate of its own. ``complete_linkage`` groups the edges
so that a chain of look-alikes (A near B, B near C, A far from C) never becomes one person.
``brute_force_pairs`` is the reference the tests hold the blocks to.

Distances are shown as duplicates.py shows them, ``round(max(0.0, 1.0 - dot), 6)``, and an edge
is a pair whose shown distance is <= the cut. Pure numpy and standard library: no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from facematch import significance

_MICRO = 1_000_000
_MAGIC = b"FMPAIRS"
_VERSION = 1


def edge_cut(
    estimate: significance.TailEstimate, comparisons: int, max_expected_false_matches: float, same_person: float
) -> float:
    """The largest distance on the 1e-6 grid within ``same_person`` that is a significant
    duplicate among ``comparisons``; -1.0 where not even 0.0 is."""

    def significant(micro: int) -> bool:
        return significance.significant_duplicate(micro / _MICRO, comparisons, estimate, max_expected_false_matches)

    high = int(np.floor(same_person * _MICRO + 1e-6))
    while high >= 0 and high / _MICRO > same_person:
        high -= 1
    if high < 0 or not significant(0):
        return -1.0
    low = 0  # significant(low) holds; the probability never decreases with distance
    while low < high:
        middle = (low + high + 1) // 2
        if significant(middle):
            low = middle
        else:
            high = middle - 1
    return low / _MICRO


@dataclass(frozen=True, eq=False)
class Pairs:
    """Pairs of faces as arrays: ids ``first`` < ``second``, rows sorted by (first, second), each
    pair once, with its shown ``distance``."""

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray

    def __post_init__(self) -> None:
        first, second = np.asarray(self.first, np.int64), np.asarray(self.second, np.int64)
        distance = np.asarray(self.distance, np.float64)
        if not (first.ndim == second.ndim == distance.ndim == 1 and first.size == second.size == distance.size):
            raise ValueError("pairs need three 1-D arrays of one length")
        if np.any(first >= second):
            raise ValueError("pairs need first < second")
        later = (first[1:] > first[:-1]) | ((first[1:] == first[:-1]) & (second[1:] > second[:-1]))
        if not np.all(later):
            raise ValueError("pairs need rows sorted by (first, second), each pair once")
        for name, value in (("first", first), ("second", second), ("distance", distance)):
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, first: Iterable[int], second: Iterable[int], distance: Iterable[float]) -> Pairs:
        """Pairs in any order and orientation: swapped to first < second and sorted."""
        a, b = np.asarray(first, np.int64).ravel(), np.asarray(second, np.int64).ravel()
        distance = np.asarray(distance, np.float64).ravel()
        if not a.size == b.size == distance.size:
            raise ValueError("pairs need three arrays of one length")
        low, high = np.minimum(a, b), np.maximum(a, b)
        order = np.lexsort((high, low))
        return cls(low[order], high[order], distance[order])

    @classmethod
    def empty(cls) -> Pairs:
        return cls.of([], [], [])

    @classmethod
    def concat(cls, parts: Iterable[Pairs]) -> Pairs:
        """The pairs of disjoint parts (e.g. of different blocks), sorted again."""
        parts = [cls.empty(), *parts]
        return cls.of(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("first", "second", "distance")))

    def __len__(self) -> int:
        return int(self.first.size)

    def to_bytes(self) -> bytes:
        """Magic, a version byte, the count (little-endian uint64), then ``first``, ``second``
        (little-endian int64) and ``distance`` (little-endian float64): 24 bytes a pair."""
        arrays = (self.first.astype("<i8"), self.second.astype("<i8"), self.distance.astype("<f8"))
        return _MAGIC + bytes([_VERSION]) + np.uint64(len(self)).astype("<u8").tobytes() + b"".join(
            array.tobytes() for array in arrays
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Pairs:
        """The pairs ``to_bytes`` wrote; ValueError for anything else."""
        data, head = bytes(data), len(_MAGIC) + 9
        if len(data) < head or not data.startswith(_MAGIC):
            raise ValueError("not an encoding of pairs")
        if data[len(_MAGIC)] != _VERSION:
            raise ValueError(f"unsupported pairs encoding version {data[len(_MAGIC)]}")
        count = int(np.frombuffer(data, "<u8", 1, len(_MAGIC) + 1)[0])
        if len(data) != head + 24 * count:
            raise ValueError(f"{len(data)} bytes cannot hold {count} pairs")
        first, second = (np.frombuffer(data, "<i8", count, head + 8 * count * k) for k in (0, 1))
        return cls(first, second, np.frombuffer(data, "<f8", count, head + 16 * count))


def _dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise dots in float64 (products of float32 are exact there); one summation order for
    every caller, so the blocks and the reference agree to the last bit."""
    return (left.astype(np.float64) * right.astype(np.float64)).sum(axis=1)


def _shown(dots: np.ndarray) -> np.ndarray:
    """Distances as duplicates.py shows them: the same Python rounding, not numpy's."""
    return np.array([round(max(0.0, 1.0 - dot), 6) for dot in dots.tolist()], dtype=np.float64)


def _pairs(left_ids, right_ids, rows, columns, left_vectors, right_vectors, cut: float) -> Pairs:
    """The candidates (rows, columns) whose exact shown distance is <= cut, as Pairs."""
    distance = _shown(_dots(left_vectors[rows], right_vectors[columns]))
    keep = distance <= cut
    first, second = left_ids[rows[keep]], right_ids[columns[keep]]
    distinct = first != second
    return Pairs.of(first[distinct], second[distinct], distance[keep][distinct])


def block_pairs(
    left_ids: np.ndarray, left_vectors: np.ndarray, right_ids: np.ndarray, right_vectors: np.ndarray, cut: float,
    *, diagonal: bool, rows_per_chunk: int = 512, columns_per_chunk: int = 1024, scratch: np.ndarray | None = None,
) -> Pairs:
    """Every pair (a of left, b of right) of shown distance <= ``cut``; with ``diagonal`` the two
    are one block, and each pair of distinct rows counts once. Vectors: float32 unit rows.

    The float32 product goes a tile at a time into one buffer (``scratch``: float32, at least
    rows_per_chunk * columns_per_chunk items, where a caller reuses one) and is scanned while in
    cache; a similarity looser than the cut by more than float32's error picks candidates, which
    float64 decides. On blocks of 8192 rows, in one thread, 512 x 1024 tiles took 1.1x the time of
    the bare product, whole rows of 8192 columns 1.2-1.3x (the scan then misses the cache)."""
    left_ids, right_ids = np.asarray(left_ids, np.int64), np.asarray(right_ids, np.int64)
    left = np.ascontiguousarray(left_vectors, np.float32)
    right = np.ascontiguousarray(right_vectors, np.float32)
    if cut < 0 or len(left) == 0 or len(right) == 0:
        return Pairs.empty()
    # float32's error on a dot of unit rows is under dimensions * 2**-24 (doubled here), and the
    # shown rounding may take half a micro-unit off.
    loose = np.float32(1.0 - cut - 1e-6 - left.shape[1] * 2.0**-23)
    tall, wide = max(1, int(rows_per_chunk)), max(1, int(columns_per_chunk))
    if scratch is None or scratch.dtype != np.float32 or scratch.size < tall * wide:
        scratch = np.empty(tall * wide, np.float32)
    flat = scratch.reshape(-1)
    found_rows, found_columns = [], []
    for top in range(0, len(left), tall):
        bottom = min(top + tall, len(left))
        for start in range(top if diagonal else 0, len(right), wide):  # the diagonal: upper part
            stop = min(start + wide, len(right))
            product = flat[: (bottom - top) * (stop - start)].reshape(bottom - top, stop - start)
            np.matmul(left[top:bottom], right[start:stop].T, out=product)
            if diagonal and start - top < bottom - top:
                np.fill_diagonal(product[start - top :], -2.0)  # a row with itself
            if product.max() < loose:
                continue
            rows, columns = np.nonzero(product >= loose)
            rows, columns = rows + top, columns + start
            later = columns > rows if diagonal else slice(None)
            found_rows.append(rows[later])
            found_columns.append(columns[later])
    if not found_rows:
        return Pairs.empty()
    rows, columns = np.concatenate(found_rows), np.concatenate(found_columns)
    return _pairs(left_ids, right_ids, rows, columns, left, right, cut)


def brute_force_pairs(ids: np.ndarray, vectors: np.ndarray, cut: float) -> Pairs:
    """The reference: every pair of distinct rows at once in float64, then the same exact rule."""
    ids, vectors = np.asarray(ids, np.int64), np.asarray(vectors, np.float32)
    if cut < 0 or len(ids) < 2:
        return Pairs.empty()
    exact = vectors.astype(np.float64)
    rows, columns = np.nonzero(exact @ exact.T >= 1.0 - cut - 1e-6)
    rows, columns = rows[rows < columns], columns[rows < columns]
    return _pairs(ids, ids, rows, columns, vectors, vectors, cut)


@dataclass(frozen=True)
class Group:
    """Faces taken for one person: sorted ``members``, and every pair among them with its distance."""

    members: tuple[int, ...]
    pairs: tuple[tuple[int, int, float], ...]

    @property
    def size(self) -> int:
        return len(self.members)


class CrowdTooLarge(ValueError):
    """A connected component of the edges larger than the grouping takes: a crowd of look-alikes
    the bound let through, not one person."""


def complete_linkage(pairs: Pairs, max_component: int | None = None) -> list[Group]:
    """Groups of >= 2 faces in which every pair is an edge, by complete linkage: merge first the
    two clusters whose largest cross distance is smallest (an absent pair counts as infinite),
    ties to the smallest member ids; largest group first, then by smallest member.

    Each connected component of the edges is grouped on its own; one of m faces costs an m x m
    matrix (8 m^2 bytes) and O(m^2) to O(m^3) time: fine to a few thousand faces, and a
    component that large is one crowd of look-alikes, not one person: past ``max_component``
    faces, ``CrowdTooLarge``."""
    edges = {(a, b): d for a, b, d in zip(pairs.first.tolist(), pairs.second.tolist(), pairs.distance.tolist())}
    groups = []
    components = _components(edges)
    largest = max((len(ids) for ids, _ in components), default=0)
    if max_component is not None and largest > max_component:
        raise CrowdTooLarge(f"{largest} faces are linked to one another")
    for ids, inside in components:
        for members in _link(ids, inside):
            chosen = tuple(sorted(members))
            within = tuple((a, b, edges[a, b]) for i, a in enumerate(chosen) for b in chosen[i + 1 :])
            groups.append(Group(chosen, within))
    return sorted(groups, key=lambda group: (-group.size, group.members[0]))


def _components(edges: dict[tuple[int, int], float]) -> list[tuple[list[int], list[tuple[int, int, float]]]]:
    """The connected components of the edges: each one's sorted ids, and its edges."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    components: dict[int, tuple[list[int], list[tuple[int, int, float]]]] = {}
    for node in parent:
        components.setdefault(root(node), ([], []))[0].append(node)
    for (a, b), d in edges.items():
        components[root(a)][1].append((a, b, d))
    return [(sorted(ids), inside) for ids, inside in components.values()]


def _link(ids: list[int], edges: list[tuple[int, int, float]]) -> list[list[int]]:
    """Complete linkage of one component (``ids`` sorted): a cluster lives in the row of its
    smallest member, so the first (row, column) among the tied minima is the tie-break."""
    m = len(ids)
    index = {face: i for i, face in enumerate(ids)}
    far = np.full((m, m), np.inf)  # the largest distance between two clusters; inf off the edges
    for a, b, d in edges:
        far[index[a], index[b]] = far[index[b], index[a]] = d
    members = {i: [ids[i]] for i in range(m)}
    nearest = far.min(axis=1)
    while True:
        best = nearest.min()
        if not np.isfinite(best):
            break
        row = int(np.flatnonzero(nearest == best)[0])
        column = int(np.flatnonzero(far[row] == best)[0])
        keep, gone = min(row, column), max(row, column)
        before_keep, before_gone = far[keep].copy(), far[gone].copy()
        merged = np.maximum(before_keep, before_gone)
        merged[keep] = merged[gone] = np.inf
        far[keep], far[:, keep] = merged, merged
        far[gone], far[:, gone] = np.inf, np.inf
        members[keep] += members.pop(gone)
        # Distances only grow: a row's nearest changes only where it was one of the two merged.
        stale = np.isfinite(nearest) & ((nearest == before_keep) | (nearest == before_gone))
        stale[keep] = True
        nearest[stale] = far[stale].min(axis=1)
        nearest[gone] = np.inf
    return [group for group in members.values() if len(group) >= 2]
