"""The duplicate report's core: the significance cut as one distance, every pair within it found
block by block exactly as all at once, its float32 edge, grouping that resists chaining, the
pairs' encoding, and the Dlib-like vectors the tests use."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facematch import significance as sig
from facematch.pair_blocks import (
    Group,
    Pairs,
    block_pairs,
    brute_force_pairs,
    complete_linkage,
    edge_cut,
)
from facematch_testing.face_vectors import dlib_like, planted_copies

DLIB = sig.reference("Dlib")
SAME_PERSON = 0.07  # Dlib's threshold
BOUND = 0.01
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def comparisons(n: int) -> int:
    return n * (n - 1) // 2


def tiled(ids, vectors, cut, block: int, **chunks) -> Pairs:
    """The report's way: every pair of blocks (i <= j) on its own."""
    parts = []
    for i in range(0, len(ids), block):
        for j in range(i, len(ids), block):
            parts.append(block_pairs(
                ids[i : i + block], vectors[i : i + block], ids[j : j + block], vectors[j : j + block], cut,
                diagonal=i == j, **chunks,
            ))
    return Pairs.concat(parts)


def assert_same(found: Pairs, expected: Pairs) -> None:
    assert found.first.tolist() == expected.first.tolist()
    assert found.second.tolist() == expected.second.tolist()
    assert found.distance.tolist() == expected.distance.tolist()


def planted(n: int, seed: int, groups: int) -> tuple[np.ndarray, np.ndarray, set[tuple[int, ...]]]:
    """n Dlib-like faces under shuffled ids, with ``groups`` groups of 2-5 copies of one face
    (0.001-0.003 from it, so 0.002-0.006 from each other) at random rows, two of them across the
    rows 999/1000 and 1499/1500 and one across the first and last rows."""
    rng = np.random.default_rng(seed)
    vectors = dlib_like(n, rng)
    ids = rng.choice(10**12, n, replace=False).astype(np.int64)
    rows = rng.permutation(n).tolist()
    forced = [[999, 1000], [1499, 1500, 1501], [0, n - 1]] if n >= 1502 else []
    rows = [row for row in rows if row not in {r for f in forced for r in f}]
    truth = set()
    for g in range(groups):
        members = forced[g] if g < len(forced) else [rows.pop() for _ in range(int(rng.integers(2, 6)))]
        vectors[members[1:]] = planted_copies(
            np.repeat(vectors[members[:1]], len(members) - 1, axis=0), rng, float(rng.uniform(0.001, 0.003))
        )
        truth.add(tuple(sorted(ids[members].tolist())))
    return ids, vectors, truth


@pytest.fixture(scope="module")
def organization():
    ids, vectors, truth = planted(4000, seed=7, groups=40)
    cut = edge_cut(DLIB, comparisons(len(ids)), BOUND, SAME_PERSON)
    return ids, vectors, truth, cut, brute_force_pairs(ids, vectors, cut)


# --- edge_cut ---------------------------------------------------------------------------------

@pytest.mark.parametrize("searched", [10, 1_000, 7_998_000, 5_000_000_000, 10**11])
@pytest.mark.parametrize("bound", [0.001, 0.01, 0.1])
def test_edge_cut_is_the_last_significant_distance_on_the_micro_grid(searched, bound):
    cut = edge_cut(DLIB, searched, bound, SAME_PERSON)
    if cut < 0:
        assert cut == -1.0 and not sig.significant_duplicate(0.0, searched, DLIB, bound)
        return
    assert cut == round(cut, 6) and 0 <= cut <= SAME_PERSON
    for distance in np.linspace(0.0, cut, 50):
        assert sig.significant_duplicate(round(distance, 6), searched, DLIB, bound)
    assert cut == SAME_PERSON or not sig.significant_duplicate(round(cut + 1e-6, 6), searched, DLIB, bound)


def test_edge_cut_stops_at_the_models_threshold_when_few_faces_are_compared():
    assert edge_cut(DLIB, 2, BOUND, SAME_PERSON) == SAME_PERSON
    assert edge_cut(DLIB, 2, BOUND, 0.0123456) == 0.012345


def test_edge_cut_is_minus_one_when_not_even_identical_faces_are_significant():
    assert edge_cut(DLIB, 10**12, BOUND, SAME_PERSON) == -1.0
    assert edge_cut(DLIB, 10, BOUND, -0.01) == -1.0
    assert edge_cut(sig.fallback("no-such-model"), 10, BOUND, SAME_PERSON) == -1.0


def test_edge_cut_grows_with_a_looser_bound_and_shrinks_with_more_comparisons():
    by_bound = [edge_cut(DLIB, 10**8, bound, SAME_PERSON) for bound in (0.001, 0.01, 0.1, 1.0)]
    by_count = [edge_cut(DLIB, searched, BOUND, SAME_PERSON) for searched in (10**3, 10**5, 10**7, 10**9)]
    assert by_bound == sorted(by_bound) and len(set(by_bound)) == 4
    assert by_count == sorted(by_count, reverse=True) and len(set(by_count)) == 4


# --- block_pairs ------------------------------------------------------------------------------

def test_the_planted_groups_are_the_only_edges_and_complete_linkage_finds_them(organization):
    ids, vectors, truth, cut, everything = organization
    assert 0.011 < cut < 0.013
    inside = {pair for group in truth for pair in itertools.combinations(group, 2)}
    assert set(zip(everything.first.tolist(), everything.second.tolist())) == inside
    assert everything.distance.max() < cut and everything.distance.min() >= 0.0009
    found = complete_linkage(everything)
    assert {group.members for group in found} == truth
    assert [group.size for group in found] == sorted((group.size for group in found), reverse=True)


@pytest.mark.parametrize(
    ("block", "chunks"),
    [
        (4000, {}),
        (1000, {}),
        (1500, {"rows_per_chunk": 700, "columns_per_chunk": 900}),
        (1333, {"rows_per_chunk": 1024, "columns_per_chunk": 8192}),
    ],
    ids=["one-block", "1000", "1500-odd-tiles", "1333-whole-rows"],
)
def test_blocks_find_exactly_the_pairs_found_all_at_once(organization, block, chunks):
    ids, vectors, _, cut, everything = organization
    assert_same(tiled(ids, vectors, cut, block, **chunks), everything)


@pytest.mark.parametrize(("n", "block", "chunk"), [(60, 1, 1), (300, 7, 3), (1000, 100, 30)])
def test_small_blocks_and_chunks_find_exactly_the_pairs_found_all_at_once(n, block, chunk):
    ids, vectors, truth = planted(n, seed=n, groups=n // 20)
    cut = edge_cut(DLIB, comparisons(n), BOUND, SAME_PERSON)
    everything = brute_force_pairs(ids, vectors, cut)
    assert len(everything) == sum(comparisons(len(group)) for group in truth)
    found = tiled(ids, vectors, cut, block, rows_per_chunk=chunk, columns_per_chunk=chunk + 2)
    assert_same(found, everything)


def test_a_pair_exactly_at_the_cut_is_an_edge_and_one_a_micro_unit_further_is_not():
    rng = np.random.default_rng(3)
    faces = dlib_like(300, rng)
    copies = np.concatenate(
        [planted_copies(faces[k : k + 1], rng, float(d)) for k, d in enumerate(rng.uniform(0.0, 0.07, 300))]
    )
    for face, copy in zip(faces, copies):
        shown = round(max(0.0, 1.0 - float(np.dot(face.astype(np.float64), copy.astype(np.float64)))), 6)
        left, right = face[None, :], copy[None, :]
        at = block_pairs(np.array([1]), left, np.array([2]), right, shown, diagonal=False)
        assert at.distance.tolist() == [shown]
        both = np.array([face, copy])
        assert brute_force_pairs(np.array([1, 2]), both, shown).distance.tolist() == [shown]
        assert len(block_pairs(np.array([1, 2]), both, np.array([1, 2]), both, shown, diagonal=True)) == 1
        assert len(block_pairs(np.array([1]), left, np.array([2]), right, shown - 1e-6, diagonal=False)) == 0
        assert len(brute_force_pairs(np.array([1, 2]), both, shown - 1e-6)) == 0


def test_pairs_are_ordered_by_id_whichever_block_holds_the_smaller():
    rng = np.random.default_rng(4)
    faces = dlib_like(3, rng)
    copies = planted_copies(faces, rng, 0.004)
    found = block_pairs(np.array([50, 10, 30]), faces, np.array([20, 60, 40]), copies, 0.01, diagonal=False)
    assert list(zip(found.first.tolist(), found.second.tolist())) == [(10, 60), (20, 50), (30, 40)]
    assert np.all(np.abs(found.distance - 0.004) < 2e-6)


def test_a_negative_cut_finds_nothing_not_even_identical_faces():
    faces = dlib_like(5, np.random.default_rng(5))
    twice = np.concatenate([faces, faces])
    assert len(block_pairs(np.arange(5), faces, np.arange(5, 10), faces, -1.0, diagonal=False)) == 0
    assert len(brute_force_pairs(np.arange(10), twice, -1.0)) == 0
    assert len(block_pairs(np.arange(5), faces, np.arange(5, 10), faces, 0.0, diagonal=False)) == 5


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    block=st.integers(1, 41),
    rows=st.integers(1, 9),
    columns=st.integers(1, 9),
    cut=st.sampled_from([-1.0, 0.0, 0.005, 0.12, 0.16, 0.3, 2.0]),
)
def test_any_tiling_finds_exactly_the_pairs_found_all_at_once(seed, n, block, rows, columns, cut):
    rng = np.random.default_rng(seed)
    vectors = dlib_like(n, rng)
    if n >= 4:
        vectors[: n // 4] = planted_copies(vectors[n - n // 4 :], rng, 0.004)
    ids = rng.choice(10**6, n, replace=False).astype(np.int64)
    found = tiled(ids, vectors, cut, block, rows_per_chunk=rows, columns_per_chunk=columns)
    assert_same(found, brute_force_pairs(ids, vectors, cut))


# --- complete_linkage -------------------------------------------------------------------------

def edges(*rows: tuple[int, int, float]) -> Pairs:
    return Pairs.of(*zip(*rows)) if rows else Pairs.empty()


def test_a_chain_of_look_alikes_is_not_one_person():
    found = complete_linkage(edges((1, 2, 0.005), (2, 3, 0.004)))
    assert found == [Group((2, 3), ((2, 3, 0.004),))]


def test_a_face_near_two_tight_groups_joins_one_and_never_merges_them():
    tight = [(a, b, 0.002) for group in ((1, 2, 3), (4, 5, 6)) for a, b in itertools.combinations(group, 2)]
    bridge = [(face, 7, 0.008) for face in range(1, 7)]
    found = complete_linkage(edges(*tight, *bridge))
    assert [group.members for group in found] == [(1, 2, 3, 7), (4, 5, 6)]
    assert found[0].pairs == ((1, 2, 0.002), (1, 3, 0.002), (1, 7, 0.008), (2, 3, 0.002), (2, 7, 0.008), (3, 7, 0.008))
    nearer = complete_linkage(edges(*tight, *bridge[:3], *((face, 7, 0.007) for face in (4, 5, 6))))
    assert [group.members for group in nearer] == [(4, 5, 6, 7), (1, 2, 3)]


def test_ties_go_to_the_smallest_member_ids():
    assert [g.members for g in complete_linkage(edges((2, 3, 0.005), (1, 2, 0.005)))] == [(1, 2)]
    assert [g.members for g in complete_linkage(edges((1, 3, 0.005), (1, 2, 0.005)))] == [(1, 2)]
    assert [g.members for g in complete_linkage(edges((3, 4, 0.005), (1, 4, 0.005)))] == [(1, 4)]
    assert [g.members for g in complete_linkage(edges((1, 2, 0.005), (2, 3, 0.005), (3, 4, 0.005)))] == [(1, 2), (3, 4)]
    assert [g.members for g in complete_linkage(edges((3, 4, 0.005), (1, 3, 0.005), (2, 4, 0.005)))] == [(1, 3), (2, 4)]


def test_groups_come_largest_first_then_by_smallest_member():
    found = complete_linkage(edges((50, 51, 0.001), (7, 8, 0.003), (20, 21, 0.002), (20, 22, 0.002), (21, 22, 0.002)))
    assert [g.members for g in found] == [(20, 21, 22), (7, 8), (50, 51)]
    assert complete_linkage(Pairs.empty()) == []


def test_the_grouping_depends_on_the_set_of_edges_not_their_order():
    rng = np.random.default_rng(6)
    rows = [(a, b, float(rng.choice([0.001, 0.002, 0.003])))
            for a, b in itertools.combinations(range(12), 2) if rng.random() < 0.4]
    expected = complete_linkage(edges(*rows))
    for _ in range(5):
        order = rng.permutation(len(rows))
        swapped = [(b, a, d) if rng.random() < 0.5 else (a, b, d) for a, b, d in (rows[i] for i in order)]
        assert complete_linkage(edges(*swapped)) == expected


@FAST
@given(st.sets(st.tuples(st.integers(0, 11), st.integers(0, 11), st.sampled_from([0.001, 0.002, 0.003, 0.004])),
               max_size=40))
def test_every_group_is_a_clique_of_edges_and_no_two_groups_could_still_merge(raw):
    distances = {(min(a, b), max(a, b)): d for a, b, d in sorted(raw) if a != b}
    found = complete_linkage(edges(*((a, b, d) for (a, b), d in distances.items())))
    seen = [face for group in found for face in group.members]
    assert len(seen) == len(set(seen))
    for group in found:
        assert group.size >= 2 and list(group.members) == sorted(group.members)
        assert group.pairs == tuple((a, b, distances[a, b]) for a, b in itertools.combinations(group.members, 2))
    clusters = [set(g.members) for g in found] + [{f} for f in {f for pair in distances for f in pair} - set(seen)]
    for one, other in itertools.combinations(clusters, 2):
        assert not all((min(a, b), max(a, b)) in distances for a in one for b in other)


# --- Pairs ------------------------------------------------------------------------------------

def test_pairs_survive_their_encoding():
    pairs = Pairs.of([5, 1, 9], [2, 7, 3], [0.001, 0.0025, 0.012345])
    back = Pairs.from_bytes(pairs.to_bytes())
    assert_same(back, pairs)
    assert back.first.dtype == np.int64 and back.distance.dtype == np.float64
    assert len(Pairs.from_bytes(Pairs.empty().to_bytes())) == 0
    assert_same(Pairs.concat([Pairs.of([4], [3], [0.5]), pairs]), Pairs.of([5, 1, 9, 3], [2, 7, 3, 4], [0.001, 0.0025, 0.012345, 0.5]))


def test_malformed_pairs_bytes_are_a_value_error():
    good = Pairs.of([1, 2], [3, 4], [0.001, 0.002]).to_bytes()
    bad = [b"NOTPAIRS" + good[8:], good[:7] + b"\x02" + good[8:], good + b"\x00", good + bytes(24)]
    bad += [good[:cut] for cut in range(len(good))]
    body = good[16:]
    bad.append(good[:16] + body[16:32] + body[:16] + body[32:])  # first and second swapped: first > second
    bad.append(good[:8] + np.uint64(2**61).tobytes() + body)  # a count that does not fit
    for data in bad:
        with pytest.raises(ValueError):
            Pairs.from_bytes(data)


def test_pairs_refuse_rows_out_of_order_or_orientation():
    with pytest.raises(ValueError):
        Pairs(np.array([3]), np.array([1]), np.array([0.1]))
    with pytest.raises(ValueError):
        Pairs(np.array([2, 1]), np.array([3, 3]), np.array([0.1, 0.1]))
    with pytest.raises(ValueError):
        Pairs(np.array([1, 1]), np.array([3, 3]), np.array([0.1, 0.1]))


# --- Dlib-like vectors ------------------------------------------------------------------------

def test_synthetic_strangers_are_as_far_apart_as_dlibs():
    vectors = dlib_like(1500, np.random.default_rng(8)).astype(np.float64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    distances = 1.0 - (vectors @ vectors.T)[np.triu_indices(len(vectors), 1)]
    for share in (0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9):
        assert abs(np.quantile(distances, share) - DLIB.distance_at(share)) < 0.01, share


def test_planted_copies_lie_at_the_distance_asked():
    rng = np.random.default_rng(9)
    faces = dlib_like(100, rng)
    for distance in (0.002, 0.01, 0.05):
        copies = planted_copies(faces, rng, distance)
        assert np.allclose(np.linalg.norm(copies.astype(np.float64), axis=1), 1.0, atol=1e-6)
        found = 1.0 - np.sum(faces.astype(np.float64) * copies, axis=1)
        assert np.all(np.abs(found - distance) < 1e-6)
