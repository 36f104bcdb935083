"""The write protocol, stopped at every S3 and DynamoDB call (docs/write-protocol.md).

Each primary operation (enroll, delete by id, delete by person, purge, compact) runs on an
organization holding three faces in three small shards, with compaction above two. At each of
its AWS calls something else happens: another operation runs to its end just before the call
(or after the last one), the reply of a write is lost, or the process crashes before a write (or
after the last call). Afterwards the five invariants are checked through a warm and a cold
reader, and the organization must take and find a new enrollment. Single-threaded, so each case
is exactly reproducible.

Points that are the same state are tried once: after call n's reply is before call n+1, and a
crash before a read leaves what a crash before the next write leaves.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from unittest import mock

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.errors import FaceMatchError, OrganizationNotFound, OrganizationPurging, StoreConflict
from facematch.manifest import PURGE_LEASE_SECONDS
from facematch.shards import ShardStore
from facematch.wiring import FaceMatch
from facematch_local.moto_atomic import SERIALISED
from facematch_testing.aws import stored_ids, versions
from facematch_testing.bulk import enroll_in_bulk
from facematch_testing.events import OPERATOR
from facematch_testing.faults import AFTER, BEFORE, Crash, Fault, crash, injecting, lose_reply, run_there
from facematch_testing.protocol import PEOPLE, Violation, World, face

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.protocol]

PRIMARIES: dict[str, Callable[[World], object]] = {
    "enroll": lambda world: world.enroll("ann", 2),
    "delete_id": lambda world: world.delete_id(world.oldest_id()),
    "delete_person": lambda world: world.delete_person("ann"),
    "purge": lambda world: world.purge(),
    "compact": lambda world: world.compact(),
}
INTRUDERS: dict[str, Callable[[World], object]] = {
    "enroll": lambda world: world.enroll("ann", 1),
    "delete_newest_id": lambda world: world.delete_id(world.newest_id()),
    "delete_oldest_id": lambda world: world.delete_id(world.oldest_id()),
    "delete_person": lambda world: world.delete_person("ann"),
    "purge": lambda world: world.purge(),
    "compact": lambda world: world.compact(),
    # A purge that completes, then an enrollment into the generation it started: what a purge
    # still running (joined, or slow) must not delete.
    "purge_then_enroll": lambda world: (world.purge(), world.enroll("cat", 1)),
}
INTRUSIONS = [*INTRUDERS, "lost_reply", "crash"]


@pytest.fixture
def few_small_shards(monkeypatch):
    """Compaction after two small shards, so that enrollments and compactions meet."""
    monkeypatch.setattr("facematch.writes.MAX_SMALL_SHARDS", 2)


def prepared_world() -> World:
    """Three faces in three small shards: one more enrollment, or a compaction, merges them."""
    world = World(f"org-{uuid.uuid4().hex[:12]}")
    with mock.patch("facematch.writes.MAX_SMALL_SHARDS", len(PEOPLE)):
        for person in PEOPLE[:3]:
            world.enroll(person, 0)
    return world


def fault_points(primary: str, intrusion: str) -> list[tuple[int, str]]:
    """Where to intrude: (call index, before or after it), from a run without faults."""
    world = prepared_world()
    with injecting() as injector:
        PRIMARIES[primary](world)
    calls = injector.calls
    last = (len(calls) - 1, AFTER)
    if intrusion == "lost_reply":
        return [(at, AFTER) for at, call in enumerate(calls) if call.writes]
    if intrusion == "crash":
        return [(at, BEFORE) for at, call in enumerate(calls) if call.writes] + [last]
    return [(at, BEFORE) for at in range(len(calls))] + [last]


def test_every_write_the_protocol_makes_is_atomic_in_the_mocked_account(few_small_shards):
    """The harness's verdicts rest on moto being as atomic as S3 and DynamoDB for every write
    operation the protocol uses; the mocked account serialises exactly those."""
    written = set()
    for primary in PRIMARIES:
        world = prepared_world()
        with injecting() as injector:
            PRIMARIES[primary](world)
        written |= {call.operation for call in injector.calls if call.writes}
    assert written <= set(SERIALISED), written - set(SERIALISED)


def interleave(world: World, primary: str, intrusion: str, when: str, at: int) -> str | None:
    """Run ``primary`` with ``intrusion`` at its call ``at``; what went wrong, or None."""
    outcomes: list = []
    with injecting() as injector:
        if intrusion == "lost_reply":
            action = lose_reply
        elif intrusion == "crash":
            action = crash(injector)
        else:
            action = run_there(injector, lambda: INTRUDERS[intrusion](world), outcomes)
        injector.fault = Fault(at, when, action)
        try:
            PRIMARIES[primary](world)
        except Crash:
            pass
        except (ConnectionClosedError, ClientError) as error:
            if intrusion != "lost_reply":
                return f"{primary} failed with {error!r}"
        except StoreConflict as error:  # single-threaded, nothing can keep racing
            return f"{primary} failed with {error!r}"
        except FaceMatchError:
            pass  # a typed answer, e.g. 409 ORGANIZATION_PURGING; the invariants say if it is right
        except Violation as violation:
            return str(violation)
    for outcome, value in outcomes:
        if isinstance(value, Violation):
            return str(value)
        if outcome == "error" and (isinstance(value, StoreConflict) or not isinstance(value, FaceMatchError)):
            return f"the intruding {intrusion} failed with {value!r}"
    return None


def run_case(primary: str, intrusion: str, when: str, at: int) -> str | None:
    """One interleaving on a fresh organization; the violation it shows, or None."""
    world = prepared_world()
    try:
        return interleave(world, primary, intrusion, when, at) or world.check() or world.check_usable()
    except Violation as violation:
        return str(violation)


@pytest.mark.parametrize("primary", PRIMARIES)
@pytest.mark.parametrize("intrusion", INTRUSIONS)
def test_every_call_of_every_write_survives_every_intrusion(primary, intrusion, few_small_shards):
    violations = []
    for at, when in fault_points(primary, intrusion):
        violation = run_case(primary, intrusion, when, at)
        if violation:
            violations.append(f"{primary}, {intrusion} {when} call {at}: {violation}")
    assert violations == []


def answered(operation: Callable[[], object]) -> None:
    """Run an operation alone: it succeeds or gives a typed answer (404, 409 while purging)."""
    try:
        operation()
    except StoreConflict:
        raise
    except FaceMatchError:
        pass


class WriteProtocolMachine(RuleBasedStateMachine):
    """Random sequences of writes, interleavings, lost replies and crashes on one organization,
    against the model of what it should hold; every invariant after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.world = prepared_world()

    @rule(person=st.sampled_from(PEOPLE[:3]), variant=st.integers(0, 2))
    def enroll(self, person: str, variant: int) -> None:
        answered(lambda: self.world.enroll(person, variant))

    @rule(operation=st.sampled_from(["delete_newest_id", "delete_oldest_id", "delete_person", "purge", "compact"]))
    def erase_or_compact(self, operation: str) -> None:
        answered(lambda: INTRUDERS[operation](self.world))

    @rule(
        primary=st.sampled_from(list(PRIMARIES)),
        intrusion=st.sampled_from(INTRUSIONS),
        when=st.sampled_from([BEFORE, AFTER]),
        at=st.integers(0, 24),
    )
    def interleaved(self, primary: str, intrusion: str, when: str, at: int) -> None:
        problem = interleave(self.world, primary, intrusion, when, at)
        assert problem is None, problem

    @invariant()
    def holds_what_it_should(self) -> None:
        self.world.check()

    def teardown(self) -> None:
        self.world.check_usable()


def test_random_histories_of_writes_and_faults_keep_every_invariant(few_small_shards):
    run_state_machine_as_test(
        WriteProtocolMachine,
        settings=settings(
            max_examples=12, stateful_step_count=8, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_while_a_purge_runs_every_request_answers_409_organization_purging():
    world = prepared_world()
    answers: list = []

    def every_request() -> None:
        for request in (
            lambda: world.service.holdings.list_embeddings(world.organization),
            lambda: world.service.holdings.get_embedding(world.organization, 1),
            lambda: world.service.matching.match(world.organization, face("ann", 0)[0], 1, 0.5),
            lambda: world.service.holdings.delete_person(world.organization, "ann", OPERATOR),
            lambda: world.enroll("cat", 0),
        ):
            try:
                request()
            except FaceMatchError as error:
                answers.append((error.status, error.code))

    with injecting() as injector:
        injector.fault = Fault(0, BEFORE, lambda _call: None, operation="s3.DeleteObjects")
        injector.fault.action = run_there(injector, every_request, [])
        world.purge()
    assert answers == [(409, "ORGANIZATION_PURGING")] * 5


def test_an_interrupted_purge_reads_as_empty_after_its_lease_and_the_next_write_finishes_it():
    world = prepared_world()
    with injecting() as injector:
        injector.fault = Fault(0, BEFORE, crash(injector), operation="s3.DeleteObjects")
        with pytest.raises(Crash):
            world.service.holdings.purge_organization(world.organization, OPERATOR)
    with pytest.raises(OrganizationPurging):
        world.service.holdings.list_embeddings(world.organization)

    world.clock.now += PURGE_LEASE_SECONDS
    assert world.service.holdings.list_embeddings(world.organization).embeddings == []
    with pytest.raises(OrganizationNotFound):
        world.service.matching.match(world.organization, face("ann", 0)[0], 1, 0.5)
    (embed_id,) = world.enroll("cat", 0)
    assert world.service.writes.shards.read_manifest(world.organization).state == "active"
    assert [e.embed_id for e in world.service.holdings.list_embeddings(world.organization).embeddings] == [embed_id]
    assert stored_ids(world.organization) == [embed_id]  # the old generation's shards are gone


def test_an_interrupted_large_purge_gets_one_step_from_a_write_which_waits_while_the_job_finishes_it(aws):
    world = World(f"org-{uuid.uuid4().hex[:12]}")
    base = world.service
    # Each step, the write's one included, stops after one page that deleted something.
    settings = base.settings.model_copy(update={"purge_request_seconds": 0, "job_step_seconds": 0})
    world.service = FaceMatch(settings, base.embedder, Catalog(settings.table), ShardStore(settings.bucket), world.clock)
    enroll_in_bulk(world.service, world.organization, 1100)  # 1,101 objects: more than a page
    with injecting() as injector:
        injector.fault = Fault(0, BEFORE, crash(injector), operation="s3.DeleteObjects")
        with pytest.raises(Crash):
            world.service.holdings.purge_organization(world.organization, OPERATOR)

    world.clock.now += PURGE_LEASE_SECONDS
    assert world.service.holdings.list_embeddings(world.organization).embeddings == []
    with pytest.raises(OrganizationPurging):
        world.enroll("cat", 0)
    left = [v for v in versions(f"orgs/{world.organization}/") if "/g1/" in v["Key"]]
    assert 0 < len(left) < 1101  # the write deleted one page, not the whole purge
    sqs, steps = client("sqs"), 0
    while messages := sqs.receive_message(QueueUrl=aws["JobQueue"]).get("Messages", []):
        world.service.long_jobs.run(messages[0]["Body"], time_left=math.inf)  # the job the write sent again
        sqs.delete_message(QueueUrl=aws["JobQueue"], ReceiptHandle=messages[0]["ReceiptHandle"])
        steps += 1
    assert steps > 1
    (embed_id,) = world.enroll("cat", 0)
    assert [e.embed_id for e in world.service.holdings.list_embeddings(world.organization).embeddings] == [embed_id]
    assert {v["Key"] for v in versions(f"orgs/{world.organization}/") if "/g1/" in v["Key"]} == set()
