"""The manifest and the changes writes commit to it: pure functions, no AWS."""

from __future__ import annotations

import pytest

from facematch.errors import OrganizationFull, OrganizationPurging, PurgedDuringWrite
from facematch.manifest import (
    CONDEMNED_SECONDS,
    PURGE_LEASE_SECONDS,
    PURGED,
    PURGING,
    RETIREMENT_SECONDS,
    RETIREMENT_WINDOW_SECONDS,
    IdSet,
    Manifest,
    RetiredBatch,
    ShardRef,
)
from facematch.manifest_changes import (
    Rewrite,
    ShardsMoved,
    begin_purge,
    commit_enrollment,
    commit_erasure,
    commit_merge,
    expire_retirements,
    finish_purge,
)

SHARD = ShardRef("s1", 2)


def test_an_id_set_keeps_runs_of_ids_as_intervals_and_answers_membership():
    ids = IdSet.of([5, 1, 2, 3, 9]).union([4, 10])
    assert ids.intervals == ((1, 5), (9, 10))
    assert [i in ids for i in (0, 1, 5, 6, 8, 9, 10, 11)] == [False, True, True, False, False, True, True, False]
    assert ids.covers([1, 2, 10]) and not ids.covers([1, 6])
    assert IdSet.from_json(ids.to_json()) == ids


def test_a_manifest_survives_its_json_with_every_field():
    manifest, _ = Manifest(generation=3, committed=IdSet.of([1, 2]), erased=IdSet.of([2])).with_shards(
        "Dlib", now=10.0, add=[ShardRef("s1", 2, "v1", min_id=1, max_id=2)], condemn=[ShardRef("s0", 1)]
    )
    manifest, _ = manifest.with_shards("Dlib", now=11.0, retire_into=RetiredBatch("b", "v2", 11.0, 4))
    assert Manifest.from_json(manifest.to_json(), "etag") == Manifest(**{**vars(manifest), "etag": "etag"})


def test_an_enrollment_commit_makes_its_ids_live_once_and_a_replay_changes_nothing():
    committed, expired = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1, 2], now=1.0)
    assert committed.is_live(1) and committed.is_live(2) and committed.of("Dlib").shards == (SHARD,)
    assert expired == ()
    assert commit_enrollment(committed, "org", 1, "Dlib", SHARD, [1, 2], now=2.0) is None


@pytest.mark.parametrize("current", [Manifest(generation=2), Manifest(state=PURGING)])
def test_an_enrollment_begun_before_a_purge_cannot_commit_after_it(current):
    with pytest.raises(PurgedDuringWrite):
        commit_enrollment(current, "org", 1, "Dlib", SHARD, [1], now=1.0)


def test_an_enrollment_commit_counts_every_models_live_faces_against_the_limit_and_a_replay_is_never_refused():
    held, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1, 2], now=1.0)
    held, _ = commit_enrollment(held, "org", 1, "Facenet", ShardRef("s2", 1), [3], now=1.0, max_faces=3)
    assert held.faces() == 3
    with pytest.raises(OrganizationFull, match="holds 3 faces; 1 more would pass its limit of 3"):
        commit_enrollment(held, "org", 1, "Dlib", ShardRef("s3", 1), [4], now=2.0, max_faces=3)
    assert commit_enrollment(held, "org", 1, "Facenet", ShardRef("s2", 1), [3], now=2.0, max_faces=3) is None
    erased, _ = commit_erasure(held, held, {1}, {"Dlib": Rewrite(["s1"], [ShardRef("s1b", 1)])}, now=3.0)
    assert erased.faces() == 2  # the rewrite without the erased face holds one
    assert commit_enrollment(erased, "org", 1, "Dlib", ShardRef("s3", 1), [4], now=4.0, max_faces=3)


def merged(manifest: Manifest, key: str, replaced: set[str], now: float, batch: str | None = None) -> Manifest:
    """``manifest`` after a compaction at ``now`` merged ``replaced`` into shard ``key``."""
    extends = manifest.of("Dlib").open_batch(now)
    listed = (extends.count if extends else 0) + len(replaced)
    retired = RetiredBatch(batch or f"batch-{key}", None, extends.opened_at if extends else now, listed)
    updated, _ = commit_merge(manifest, manifest, "Dlib", ShardRef(key, 1), replaced, retired, extends, now=now)
    return updated


def test_an_erasure_tombstones_its_ids_and_condemns_at_once_every_shard_holding_them_retired_or_not():
    start, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1, 2], now=1.0)
    start, _ = commit_enrollment(start, "org", 1, "Dlib", ShardRef("s3", 1), [3], now=1.0)
    start = merged(start, "m", {"s1", "s3"}, now=1.5)
    rewritten = ShardRef("m2", 2)
    # m holds 1 (live); s1 held it before the merge (retired); s3 is retired but holds only 3.
    rewrite = Rewrite(["m"], [rewritten], [ShardRef("s1", 2, retired_at=1.5)])
    erased, expired = commit_erasure(start, start, {1}, {"Dlib": rewrite}, now=2.0)
    assert not erased.is_live(1) and erased.is_live(2) and erased.is_live(3)
    assert erased.of("Dlib").shards == (rewritten,)
    assert erased.of("Dlib").retired == start.of("Dlib").retired  # retirement is not erasure's
    assert {ref.key for ref in erased.condemned()} == {"m", "s1"} and expired == ()
    assert commit_erasure(erased, start, {1}, {"Dlib": rewrite}, now=3.0) is None  # a replay
    with pytest.raises(ShardsMoved):  # m is gone: computed from shards that moved
        commit_erasure(erased, start, {2}, {"Dlib": Rewrite(["m"], [])}, now=3.0)


def test_a_merge_commits_only_while_every_merged_shard_is_committed_and_lists_them_in_a_batch():
    start, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1], now=1.0)
    start, _ = commit_enrollment(start, "org", 1, "Dlib", ShardRef("s2", 1), [2], now=1.0)
    batch = RetiredBatch("b", None, 2.0, 2)
    after, expired = commit_merge(start, start, "Dlib", ShardRef("m", 2), {"s1", "s2"}, batch, None, now=2.0)
    assert after.of("Dlib").shards == (ShardRef("m", 2),) and after.of("Dlib").retired == (batch,) and expired == ()
    assert commit_merge(after, start, "Dlib", ShardRef("m", 2), {"s1", "s2"}, batch, None, now=3.0) is None
    with pytest.raises(ShardsMoved):  # s1 and s2 are no longer committed
        commit_merge(after, start, "Dlib", ShardRef("m2", 2), {"s1", "s2"}, batch, None, now=3.0)
    with pytest.raises(ShardsMoved):  # another compaction opened a batch since this one looked
        commit_merge(after, after, "Dlib", ShardRef("m2", 2), {"m"}, RetiredBatch("c", None, 3.0, 1), None, now=3.0)


def test_retirement_is_a_time_and_a_burst_of_merges_fills_a_handful_of_batches_not_the_manifest():
    manifest, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1], now=0.0)
    manifest = merged(manifest, "m0", {"s1"}, now=0.0)
    for i in range(1, 600):  # 600 merges in a minute: one batch per window, every shard listed
        manifest = merged(manifest, f"m{i}", {f"m{i - 1}"}, now=i / 10, batch=f"batch-{i}")
    batches = manifest.of("Dlib").retired
    assert len(batches) == 60 // RETIREMENT_WINDOW_SECONDS
    assert sum(b.count for b in batches) == 600
    later, expired = commit_enrollment(manifest, "org", 1, "Dlib", ShardRef("s2", 1), [2], now=60.0 + RETIREMENT_SECONDS)
    assert expired == (batches[0],)  # its window closed more than RETIREMENT_SECONDS ago
    assert later.of("Dlib").retired == batches[1:]


def test_the_sweepers_change_expires_old_batches_and_forgets_condemned_shards_after_their_hour():
    manifest, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1, 2], now=0.0)
    manifest = merged(manifest, "m", {"s1"}, now=0.0)
    due = RETIREMENT_WINDOW_SECONDS + RETIREMENT_SECONDS
    assert expire_retirements(manifest, now=due) is None  # nothing due yet
    swept, expired = expire_retirements(manifest, now=due + 1)
    assert [b.key for b in expired] == ["batch-m"] and swept.of("Dlib").retired == ()
    erased, _ = commit_erasure(swept, swept, {1}, {"Dlib": Rewrite(["m"], [ShardRef("m2", 1)])}, now=10.0)
    assert [ref.key for ref in erased.condemned()] == ["m"]
    assert expire_retirements(erased, now=10.0 + CONDEMNED_SECONDS) is None
    forgotten, expired = expire_retirements(erased, now=11.0 + CONDEMNED_SECONDS)
    assert forgotten.condemned() == () and expired == ()
    assert expire_retirements(begin_purge(forgotten, now=1e9)[0], now=2e9) is None


def test_a_shard_says_which_ids_it_may_hold():
    ref = ShardRef("s", 3, min_id=10, max_id=12)
    assert ref.may_hold([1, 11]) and not ref.may_hold([9, 13])
    assert ShardRef("s", 3).may_hold([99])  # no range recorded: it may hold anything


def test_a_purge_bumps_the_generation_once_joins_one_under_way_and_ends_purged_and_empty():
    start, _ = commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1], now=1.0)
    purging, _ = begin_purge(start, now=2.0)
    assert (purging.state, purging.generation) == (PURGING, 2) and not purging.is_live(1)
    assert begin_purge(purging, now=3.0) is None
    purged, _ = finish_purge(purging, 2, now=4.0)
    assert (purged.state, purged.generation, purged.models, purged.committed) == (PURGED, 2, {}, IdSet())
    assert finish_purge(purged, 2, now=5.0) is None


def test_readers_get_409_while_a_purge_runs_and_an_empty_organization_once_it_was_interrupted():
    purging, _ = begin_purge(commit_enrollment(Manifest(), "org", 1, "Dlib", SHARD, [1], now=1.0)[0], now=2.0)
    with pytest.raises(OrganizationPurging):
        purging.for_readers("org", now=2.0 + PURGE_LEASE_SECONDS - 1)
    interrupted = purging.for_readers("org", now=2.0 + PURGE_LEASE_SECONDS)
    assert interrupted.models == {} and not interrupted.is_live(1)
