"""The write protocol, stopped at every S3 and DynamoDB call (docs/write-protocol.md).

Each primary operation (enroll, delete by id, delete by person, purge, compact) runs on an
organization holding two faces. At each of its AWS calls something else happens: another
operation runs to its end just before the call (or after the last one), the reply of a write is
lost, or the process crashes before a write (or after the last call). Afterwards the five
invariants are checked through a warm and a cold reader, and the organization must take and
find a new enrollment. Single-threaded, so each case is exactly reproducible.

Points that are the same state are tried once: after call n's reply is before call n+1, and a
crash before a read leaves what a crash before the next write leaves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from facematch.errors import FaceMatchError, StoreConflict
from facematch_testing.faults import AFTER, BEFORE, Crash, Fault, crash, injecting, lose_reply, run_there
from facematch_testing.protocol import Violation, World

pytestmark = pytest.mark.usefixtures("aws")

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
}
INTRUSIONS = [*INTRUDERS, "lost_reply", "crash"]


@pytest.fixture
def few_small_shards(monkeypatch):
    """Compaction after two small shards, so that enrollments and compactions meet."""
    monkeypatch.setattr("facematch.writes.MAX_SMALL_SHARDS", 2)


def prepared_world() -> World:
    world = World(f"org-{uuid.uuid4().hex[:12]}")
    for person in ("ann", "bob"):
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


def run_case(primary: str, intrusion: str, when: str, at: int) -> str | None:
    """One interleaving; the violation it shows, or None."""
    world = prepared_world()
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
        call = injector.calls[at].operation if at < len(injector.calls) else "?"
    for outcome, value in outcomes:
        if outcome == "error" and (isinstance(value, StoreConflict) or not isinstance(value, FaceMatchError | Violation)):
            return f"the intruding {intrusion} failed with {value!r}"
        if isinstance(value, Violation):
            return str(value)
    try:
        world.check()
        world.check_usable()
    except Violation as violation:
        return f"at call {at} ({call}): {violation}"
    return None


@pytest.mark.parametrize("primary", PRIMARIES)
@pytest.mark.parametrize("intrusion", INTRUSIONS)
def test_every_call_of_every_write_survives_every_intrusion(primary, intrusion, few_small_shards):
    violations = []
    for at, when in fault_points(primary, intrusion):
        violation = run_case(primary, intrusion, when, at)
        if violation:
            violations.append(f"{primary}, {intrusion} {when} call {at}: {violation}")
    assert violations == []
