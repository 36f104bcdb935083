"""Duplicate reports end to end under moto: started and read over the API, planned, fanned out
and merged by the report function from the report queue, on Dlib-like synthetic vectors with
planted duplicate groups; and the report beside cancellation, crashes, redelivery, erasure and
purges."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from facematch import report_work, significance
from facematch.errors import ReportRunning
from facematch.pair_blocks import brute_force_pairs, complete_linkage
from facematch.sweeper import Sweeper
from facematch_local.context import LambdaContext
from facematch_testing.api import enrolled_ids, invoke, request
from facematch_testing.aws import all_items, versions
from facematch_testing.events import OPERATOR, api_event, organization_key
from facematch_testing.face_vectors import dlib_like, planted_copies
from facematch_testing.photos import identities, photo
from facematch_testing.reports import (
    bodies,
    cancel_report,
    commit_faces,
    deliver,
    drain,
    every_group,
    read_report,
    receive,
    start_report,
)

pytestmark = pytest.mark.usefixtures("aws")
BLOCK = 40


@pytest.fixture
def small_blocks(api_app, report_app, monkeypatch):
    """Blocks of BLOCK faces, so that a few hundred faces make many tasks and groups straddle blocks."""
    work = report_app.worker.work
    monkeypatch.setattr(work.planner, "block_faces", BLOCK)


def planted(rng, strangers: int, groups: list[int]) -> tuple[np.ndarray, list[list[int]]]:
    """``strangers`` Dlib-like faces, then copies of some of them making ``groups`` (sizes),
    shuffled: the vectors, and each group as row numbers."""
    base = dlib_like(strangers, rng)
    rows, members = [base], []
    next_row = strangers
    for number, size in enumerate(groups):
        copies = planted_copies(np.repeat(base[number : number + 1], size - 1, axis=0), rng, 0.004)
        rows.append(copies)
        members.append([number, *range(next_row, next_row + size - 1)])
        next_row += size - 1
    vectors = np.concatenate(rows)
    order = rng.permutation(len(vectors))
    where = np.argsort(order)
    return vectors[order], [sorted(int(where[row]) for row in group) for group in members]


def assert_found(found: list[list[int]], groups: list[list[int]], ids, vectors, report) -> list[list[int]]:
    """The report's groups are exactly the brute-force reference's (every pair at once, then
    complete linkage), and every planted group is one of them, whole."""
    found = sorted(sorted(group) for group in found)
    reference = complete_linkage(brute_force_pairs(ids, vectors, report["significant_distance"]))
    assert found == sorted(sorted(group.members) for group in reference)
    planted_groups = sorted(sorted(int(ids[row]) for row in group) for group in groups)
    planted_ids = {member for group in planted_groups for member in group}
    assert planted_groups == [group for group in found if set(group) & planted_ids]
    return found


def run_report(api_app, report_app, queues, organization, **fields) -> dict:
    status, body = start_report(api_app, organization, **fields)
    assert status == 202, body
    drain(report_app, queues["ReportQueue"])
    status, report = read_report(api_app, organization, body["report_id"])
    assert status == 200, report
    return report


def test_a_report_finds_exactly_the_brute_force_groups_across_block_boundaries(api_app, report_app, aws, organization, small_blocks):
    rng = np.random.default_rng(7)
    vectors, groups = planted(rng, 300, [2, 3, 2, 5, 2, 4])
    ids = commit_faces(api_app.service, organization, vectors, shard_rows=70)

    report = run_report(api_app, report_app, aws, organization)

    assert report["status"] == "done", report
    faces = len(vectors)
    blocks = -(-faces // BLOCK)
    assert report["faces"] == faces and report["comparisons"] == faces * (faces - 1) // 2
    assert report["progress"] == {"done": blocks * (blocks + 1) // 2, "total": blocks * (blocks + 1) // 2}
    found = assert_found(every_group(api_app, organization, report["report_id"], limit=2), groups, ids, vectors, report)
    # Groups straddle blocks: the ids of some group fall in different blocks of BLOCK ids.
    assert any(len({int(np.searchsorted(np.sort(ids), member)) // BLOCK for member in group}) > 1 for group in found)


def test_the_cut_is_the_significance_of_a_match_among_all_n_squared_over_two_pairs(api_app, report_app, aws, organization):
    vectors, _ = planted(np.random.default_rng(1), 200, [2])
    commit_faces(api_app.service, organization, vectors)

    report = run_report(api_app, report_app, aws, organization, max_expected_false_matches=0.5)

    comparisons = report["comparisons"]
    estimate = significance.reference("Dlib")  # under 641 faces the calibration is the reference
    cut = report["significant_distance"]
    assert significance.significant_duplicate(cut, comparisons, estimate, 0.5)
    assert not significance.significant_duplicate(cut + 1e-6, comparisons, estimate, 0.5) or cut + 1e-6 > 0.07
    assert report["max_expected_false_matches"] == 0.5


def test_groups_of_one_label_are_left_out_unless_asked_for_and_unlabelled_ones_are_shown(api_app, report_app, aws, organization):
    vectors, groups = planted(np.random.default_rng(3), 120, [2, 2, 2])
    labels: list[str | None] = [f"person-{row}" for row in range(len(vectors))]
    same, unlabelled, two_labels = groups
    for row in same:
        labels[row] = "ada"
    for row in unlabelled:
        labels[row] = None
    ids = commit_faces(api_app.service, organization, vectors, labels)

    report = run_report(api_app, report_app, aws, organization)

    shown = sorted(sorted(g) for g in every_group(api_app, organization, report["report_id"]))
    assert shown == sorted([sorted(int(ids[r]) for r in unlabelled), sorted(int(ids[r]) for r in two_labels)])
    everything = every_group(api_app, organization, report["report_id"], include_same_label=True)
    assert sorted(sorted(g) for g in everything) == sorted(sorted(int(ids[r]) for r in g) for g in groups)
    _, page = read_report(api_app, organization, report["report_id"], include_same_label=True)
    ada = next(g for g in page["groups"] if {m["embed_id"] for m in g["members"]} == {int(ids[r]) for r in same})
    assert [m["external_id"] for m in ada["members"]] == ["ada", "ada"]
    assert len(ada["distances"]) == 1 and 0 <= ada["distances"][0]["distance"] <= report["significant_distance"]


def test_one_report_runs_per_organization_and_another_may_start_once_it_is_done(api_app, report_app, aws, organization):
    commit_faces(api_app.service, organization, dlib_like(50, np.random.default_rng(0)))
    status, first = start_report(api_app, organization)
    assert status == 202

    status, body = start_report(api_app, organization)
    assert status == 409 and body["error"]["code"] == "REPORT_RUNNING"
    assert first["report_id"] in body["error"]["message"]
    drain(report_app, aws["ReportQueue"])

    status, second = start_report(api_app, organization)
    assert status == 202 and second["report_id"] != first["report_id"]
    assert read_report(api_app, organization, first["report_id"])[1]["status"] == "done"


def test_an_organizations_report_is_not_found_with_another_organizations_key(api_app, report_app, aws, organization):
    commit_faces(api_app.service, organization, dlib_like(20, np.random.default_rng(0)))
    _, accepted = start_report(api_app, organization)

    status, body = read_report(api_app, "someone-else", accepted["report_id"], caller=organization_key("someone-else"))
    assert status == 404 and body["error"]["code"] == "REPORT_NOT_FOUND"
    status, body = start_report(api_app, None, caller=organization_key("empty-org"))
    assert status == 404 and body["error"]["code"] == "ORGANIZATION_NOT_FOUND"


@pytest.mark.parametrize(
    "payload", [{"max_expected_false_matches": 0}, {"max_expected_false_matches": "many"}, {"organization": "a/b"}, {"extra": 1}]
)
def test_a_malformed_request_is_a_400_and_starts_nothing(api_app, aws, organization, payload):
    commit_faces(api_app.service, organization, dlib_like(20, np.random.default_rng(0)))
    payload = {"organization": organization, **payload}
    status, body = start_report(api_app, payload.pop("organization"), **payload)
    assert status == 400, body
    assert receive(aws["ReportQueue"]) == []


def test_a_cancelled_report_stops_its_tasks_and_leaves_nothing_behind(api_app, report_app, aws, organization, small_blocks):
    commit_faces(api_app.service, organization, dlib_like(200, np.random.default_rng(2)))
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    assert deliver(report_app, aws["ReportQueue"], plan)  # planned, tasks sent
    tasks = bodies(aws["ReportQueue"])
    assert tasks and all("task" in body for body in tasks)

    status, body = cancel_report(api_app, organization, accepted["report_id"])
    assert status == 200 and body["status"] == "cancelled"
    drain(report_app, aws["ReportQueue"])

    assert read_report(api_app, organization, accepted["report_id"])[1]["status"] == "cancelled"
    assert versions(f"orgs/{organization}/g1/reports/") == []
    sort_keys = [item["sk"]["S"] for item in all_items() if item["pk"]["S"] == f"ORG#{organization}"]
    assert not [sk for sk in sort_keys if sk.startswith(("LEASE#", "REPORTING")) or "#TASK#" in sk]
    status, job = request(api_app, LambdaContext(), "GET", f"/api/jobs/{accepted['report_id']}", None, {"job_id": accepted["report_id"]}, caller=None)
    assert job["state"] == "done"
    assert start_report(api_app, organization)[0] == 202


def test_a_task_that_crashes_after_writing_its_pairs_is_redone_and_counted_once(api_app, report_app, aws, organization, small_blocks, monkeypatch):
    vectors, groups = planted(np.random.default_rng(4), 150, [3, 2])
    ids = commit_faces(api_app.service, organization, vectors)
    records = report_app.worker.work.records
    counted = records.count_task
    crashes = []

    def crash_once(record, task, pairs):
        if task == 0 and not crashes:
            crashes.append(task)
            raise RuntimeError("the worker died")
        return counted(record, task, pairs)

    monkeypatch.setattr(records, "count_task", crash_once)
    report = run_report(api_app, report_app, aws, organization)

    assert crashes == [0]
    assert report["status"] == "done" and report["progress"]["done"] == report["progress"]["total"]
    assert_found(every_group(api_app, organization, report["report_id"]), groups, ids, vectors, report)


def test_a_redelivered_task_changes_nothing(api_app, report_app, aws, organization, small_blocks):
    vectors, groups = planted(np.random.default_rng(5), 120, [2])
    ids = commit_faces(api_app.service, organization, vectors)
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    task = receive(aws["ReportQueue"], 1)[0]
    assert deliver(report_app, aws["ReportQueue"], task)
    before = read_report(api_app, organization, accepted["report_id"])[1]["progress"]

    work = report_app.worker.work
    work.handle(task["Body"], 900)  # delivered again

    assert read_report(api_app, organization, accepted["report_id"])[1]["progress"] == before
    drain(report_app, aws["ReportQueue"])
    done = read_report(api_app, organization, accepted["report_id"])[1]
    work.handle(task["Body"], 900)  # delivered again after the merge
    assert receive(aws["ReportQueue"]) == []
    assert read_report(api_app, organization, accepted["report_id"])[1] == done
    report = read_report(api_app, organization, accepted["report_id"])[1]
    assert report["status"] == "done" and report["progress"]["done"] == report["progress"]["total"]
    assert_found(every_group(api_app, organization, accepted["report_id"]), groups, ids, vectors, done)


def test_a_purge_during_a_report_ends_it_and_leaves_nothing_of_it(api_app, report_app, aws, organization, small_blocks):
    commit_faces(api_app.service, organization, dlib_like(200, np.random.default_rng(6)))
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    some = receive(aws["ReportQueue"], 3)
    for message in some:
        deliver(report_app, aws["ReportQueue"], message)

    status, _ = invoke(api_app, api_event("DELETE", f"/api/organizations/{organization}", None, {"organization": organization}), LambdaContext())
    assert status == 200
    drain(report_app, aws["ReportQueue"])

    assert read_report(api_app, organization, accepted["report_id"])[0] == 404
    assert versions(f"orgs/{organization}/g1/") == []
    assert [v["Key"] for v in versions(f"orgs/{organization}/") if "/reports/" in v["Key"]] == []
    sort_keys = [item["sk"]["S"] for item in all_items() if item["pk"]["S"] == f"ORG#{organization}"]
    assert [sk for sk in sort_keys if sk.startswith(("REPORT", "LEASE#"))] == []


def delete_face(api_app, organization: str, embed_id: int) -> None:
    event = api_event("DELETE", f"/api/embeddings/{embed_id}", {"organization": organization}, {"embed_id": str(embed_id)})
    status, body = invoke(api_app, event, LambdaContext())
    assert status == 200, body


def test_a_face_erased_during_a_report_is_in_no_group_and_its_leased_shard_is_gone_at_once(
    api_app, report_app, aws, organization, small_blocks
):
    vectors, groups = planted(np.random.default_rng(8), 150, [3, 2])
    ids = commit_faces(api_app.service, organization, vectors, shard_rows=50)
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    erased = int(ids[groups[0][0]])
    holder = [ref for ref in api_app.service.shards.read_manifest(organization).of("Dlib").shards if ref.may_hold([erased])]

    delete_face(api_app, organization, erased)
    assert holder and all(not [v for v in versions(ref.key)] for ref in holder)  # leased, and deleted all the same
    drain(report_app, aws["ReportQueue"])

    _, report = read_report(api_app, organization, accepted["report_id"])
    assert report["status"] == "done"
    found = sorted(sorted(g) for g in every_group(api_app, organization, accepted["report_id"]))
    assert all(erased not in group for group in found)
    assert sorted(int(ids[r]) for r in groups[0][1:]) in found and sorted(int(ids[r]) for r in groups[1]) in found


def test_shards_a_report_leases_outlive_their_retirement_until_the_report_ends(
    api_app, report_app, aws, organization, small_blocks, monkeypatch
):
    service = api_app.service
    vectors, groups = planted(np.random.default_rng(9), 115, [2, 3])
    ids = commit_faces(service, organization, vectors, shard_rows=15)  # 8 small shards: not yet compacted
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    leased = service.shards.read_manifest(organization).of("Dlib").shards
    assert len(leased) == 8

    commit_faces(service, organization, dlib_like(5, np.random.default_rng(0)))  # the 9th: compaction
    later = time.time() + 3600
    monkeypatch.setattr(service.writes, "clock", lambda: later)
    service.writes.expire_retirements(organization)
    Sweeper(service.writes).sweep_organization(organization)
    retired = [ref for ref in leased if ref.key not in service.shards.read_manifest(organization).of("Dlib").keys()]
    assert retired and all(versions(ref.key) for ref in retired)  # past their retirement, kept for the report

    drain(report_app, aws["ReportQueue"])
    _, report = read_report(api_app, organization, accepted["report_id"])
    assert_found(every_group(api_app, organization, accepted["report_id"]), groups, ids, vectors, report)
    Sweeper(service.writes).sweep_organization(organization)
    assert not any(versions(ref.key) for ref in retired)  # the lease ended with the report


def test_faces_erased_after_a_report_are_dropped_from_its_groups(api_app, report_app, aws, organization):
    vectors, groups = planted(np.random.default_rng(10), 100, [3, 2])
    ids = commit_faces(api_app.service, organization, vectors)
    report = run_report(api_app, report_app, aws, organization)
    three, two = (sorted(int(ids[r]) for r in group) for group in groups)

    delete_face(api_app, organization, three[0])
    delete_face(api_app, organization, two[0])

    found = sorted(sorted(g) for g in every_group(api_app, organization, report["report_id"]))
    assert three[1:] in found and all(two[1] not in group for group in found)
    assert all(three[0] not in group for group in found)


def test_a_report_expires_and_the_sweeper_deletes_what_it_kept(api_app, report_app, aws, organization, monkeypatch):
    service = api_app.service
    vectors, _ = planted(np.random.default_rng(11), 60, [2])
    commit_faces(service, organization, vectors)
    report = run_report(api_app, report_app, aws, organization)
    assert [v for v in versions(f"orgs/{organization}/g1/reports/")]

    later = time.time() + service.settings.report_retention_hours * 3600 + 1
    monkeypatch.setattr(service.reports, "clock", lambda: later)
    monkeypatch.setattr(service.writes, "clock", lambda: later)
    status, body = read_report(api_app, organization, report["report_id"])
    assert status == 404 and body["error"]["code"] == "REPORT_NOT_FOUND"
    Sweeper(service.writes).sweep_organization(organization)
    assert versions(f"orgs/{organization}/g1/reports/") == []
    sort_keys = [item["sk"]["S"] for item in all_items() if item["pk"]["S"] == f"ORG#{organization}"]
    assert [sk for sk in sort_keys if sk.startswith("REPORT")] == []


def test_a_report_past_its_time_limit_shows_failed_and_no_longer_blocks_another(api_app, report_app, aws, organization, monkeypatch):
    service = api_app.service
    commit_faces(service, organization, dlib_like(40, np.random.default_rng(12)))
    _, stuck = start_report(api_app, organization)

    later = time.time() + service.settings.report_max_hours * 3600 + 1
    monkeypatch.setattr(service.reports, "clock", lambda: later)
    _, body = read_report(api_app, organization, stuck["report_id"])
    assert body["status"] == "failed" and "time limit" in body["reason"]
    status, fresh = start_report(api_app, organization)
    assert status == 202 and fresh["report_id"] != stuck["report_id"]


def test_progress_counts_the_tasks_done_while_a_report_runs(api_app, report_app, aws, organization, small_blocks):
    commit_faces(api_app.service, organization, dlib_like(130, np.random.default_rng(13)))
    _, accepted = start_report(api_app, organization)
    _, queued = read_report(api_app, organization, accepted["report_id"])
    assert queued["status"] == "queued" and queued["progress"] == {"done": 0, "total": 0}
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    for message in receive(aws["ReportQueue"], 3):
        deliver(report_app, aws["ReportQueue"], message)

    _, running = read_report(api_app, organization, accepted["report_id"])
    assert running["status"] == "running" and running["groups"] is None
    assert running["progress"] == {"done": 3, "total": 10} and running["faces"] == 130


def test_erasing_a_face_deletes_at_once_a_leased_shard_no_manifest_names_any_more(
    api_app, report_app, aws, organization, small_blocks, monkeypatch
):
    service = api_app.service
    vectors, groups = planted(np.random.default_rng(14), 115, [2, 3])
    ids = commit_faces(service, organization, vectors, shard_rows=15)
    _, accepted = start_report(api_app, organization)
    (plan,) = receive(aws["ReportQueue"], 1)
    deliver(report_app, aws["ReportQueue"], plan)
    leased = service.shards.read_manifest(organization).of("Dlib").shards
    commit_faces(service, organization, dlib_like(5, np.random.default_rng(0)))  # compacts the leased shards
    later = time.time() + 3600
    monkeypatch.setattr(service.writes, "clock", lambda: later)
    service.writes.expire_retirements(organization)  # their batch expires; the lease keeps them
    current = service.shards.read_manifest(organization).of("Dlib").keys()
    erased = int(ids[groups[1][0]])
    (orphan,) = [ref for ref in leased if ref.key not in current and ref.may_hold([erased]) and versions(ref.key)]

    delete_face(api_app, organization, erased)

    assert versions(orphan.key) == []
    drain(report_app, aws["ReportQueue"])
    found = sorted(sorted(g) for g in every_group(api_app, organization, accepted["report_id"]))
    assert all(erased not in group for group in found)
    assert sorted(int(ids[r]) for r in groups[1][1:]) in found and sorted(int(ids[r]) for r in groups[0]) in found


def test_on_the_test_photos_each_person_enrolled_under_two_labels_is_found_and_no_group_mixes_people(
    model_api_app, report_app, aws, faces_dir, organization
):
    person_of, label_of = {}, {}
    for person, files in identities(faces_dir).items():
        for half, label in ((files[::2], person), (files[1::2], f"{person}-again")):
            embed_ids = enrolled_ids(model_api_app, LambdaContext(), organization, [photo(faces_dir, f) for f in half], external_id=label)
            person_of.update(dict.fromkeys(embed_ids, person))
            label_of.update(dict.fromkeys(embed_ids, label))

    report = run_report(model_api_app, report_app, aws, organization)

    assert report["status"] == "done" and report["faces"] == len(person_of)
    groups = every_group(model_api_app, organization, report["report_id"])
    assert all(len({person_of[member] for member in group}) == 1 for group in groups), groups
    found = {person_of[group[0]] for group in groups if len({label_of[member] for member in group}) == 2}
    assert found == set(identities(faces_dir))


@pytest.mark.parametrize(("limit", "value"), [("MAX_TASK_PAIRS", 2), ("MAX_REPORT_PAIRS", 2), ("MAX_COMPONENT_FACES", 2)])
def test_a_bound_that_lets_through_more_pairs_than_a_report_groups_fails_it_with_the_reason(
    api_app, report_app, aws, organization, monkeypatch, limit, value
):
    vectors, _ = planted(np.random.default_rng(15), 60, [3, 2])
    commit_faces(api_app.service, organization, vectors)
    monkeypatch.setattr(report_work, limit, value)

    report = run_report(api_app, report_app, aws, organization)

    assert report["status"] == "failed" and "max_expected_false_matches" in report["reason"]
    assert versions(f"orgs/{organization}/g1/reports/") == []
    assert start_report(api_app, organization)[0] == 202


def test_of_reports_started_at_once_exactly_one_runs(api_app, aws, organization):
    commit_faces(api_app.service, organization, dlib_like(30, np.random.default_rng(16)))
    barrier, outcomes = threading.Barrier(6), []

    def start() -> None:
        barrier.wait()
        try:
            outcomes.append(api_app.service.reports.start(organization, None, OPERATOR).report_id)
        except ReportRunning as running:
            outcomes.append(running)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    started = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(started) == 1 and len(outcomes) == 6
    assert all(started[0] in str(outcome) for outcome in outcomes if not isinstance(outcome, str))


def test_a_page_token_serves_only_the_listing_it_was_issued_for(api_app, report_app, aws, organization):
    vectors, _ = planted(np.random.default_rng(17), 80, [2, 2, 2])
    commit_faces(api_app.service, organization, vectors)
    report = run_report(api_app, report_app, aws, organization)
    _, page = read_report(api_app, organization, report["report_id"], limit=1)
    assert page["next_token"]

    tampered = page["next_token"][:-2] + ("AA" if not page["next_token"].endswith("AA") else "BB")
    status, body = read_report(api_app, organization, report["report_id"], next_token=tampered)
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN")
    status, body = read_report(api_app, organization, report["report_id"], next_token=page["next_token"], include_same_label=True)
    assert (status, body["error"]["code"]) == (400, "INVALID_PAGE_TOKEN")
