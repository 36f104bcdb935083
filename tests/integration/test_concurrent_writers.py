"""Enrollments, deletions, purges and compactions of one organization from many "processes" at
once, in real threads: the hostile test that found the write path's violations, now none; and
calibrations and compares beside such writers.

Each thread has its own service (its own warm vectors), as separate Lambda processes would. moto's
writes are made atomic, as S3's and DynamoDB's are. The interleavings are whatever the threads
produce; test_write_protocol.py tries every one at every call, deterministically.
"""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from facematch.errors import FaceMatchError
from facematch_testing.events import OPERATOR
from facematch_testing.protocol import PEOPLE, World, face

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.protocol]
THREADS, ROUNDS = 6, 12


def test_many_processes_writing_one_organization_at_once_keep_every_invariant():
    world = World(f"org-{uuid.uuid4().hex[:12]}")
    failures: list[str] = []
    deleted: set[int] = set()

    def process(seed: int) -> None:
        rng = random.Random(seed)
        service = world.new_service()
        for _ in range(ROUNDS):
            person = rng.choice(PEOPLE[:3])
            action = rng.choices(["enroll", "delete_person", "delete_id", "purge", "compact"], [6, 2, 2, 1, 1])[0]
            try:
                if action == "enroll":
                    # Through the world's model: the id must be new, and name this photo forever.
                    world.enroll(person, rng.randrange(3), service)
                elif action == "delete_person":
                    gone = service.holdings.delete_person(world.organization, person, OPERATOR).deleted
                    deleted.update(e.embed_id for e in gone)
                elif action == "delete_id":
                    gone = service.holdings.delete_embedding(world.organization, rng.choice(list(world.faces) or [1]), OPERATOR).deleted
                    deleted.update(e.embed_id for e in gone)
                elif action == "purge":
                    service.holdings.purge_organization(world.organization, OPERATOR)
                else:
                    service.writes.compact(world.organization, service.settings.model)
            except FaceMatchError:
                pass  # a typed answer: 404, 409 while purging, 503 after too many lost races
            except Exception as error:  # noqa: BLE001 - anything else is a finding
                failures.append(f"{action}: {error!r}")

    threads = [threading.Thread(target=process, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    world.held.clear()  # which enrollments survived which purge is the threads' race
    world.gone |= deleted  # a face a deletion reported is never seen again
    world.check()
    world.check_usable()


def test_calibrations_and_compares_beside_writers_answer_or_fail_typed_and_stay_in_bounds():
    world = World(f"org-{uuid.uuid4().hex[:12]}")
    failures: list[str] = []
    answered: list[int] = []
    writing = threading.Event()
    writing.set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        service = world.new_service()
        for _ in range(ROUNDS):
            try:
                if rng.random() < 0.7:
                    world.enroll(rng.choice(PEOPLE[:3]), rng.randrange(3), service)
                else:
                    service.holdings.delete_embedding(world.organization, rng.choice(list(world.faces) or [1]), OPERATOR)
            except FaceMatchError:
                pass
            except Exception as error:  # noqa: BLE001 - anything else is a finding
                failures.append(f"write: {error!r}")

    def reader() -> None:
        service = world.new_service()
        vector, _ = face(PEOPLE[0], 0)
        while writing.is_set():
            try:
                calibration = service.calibrations.of(world.organization)
                assert 0 < calibration.faces and calibration.source == "reference"
                assert 0 <= calibration.significant_distance
                matches, searched = service.matching.matches_of(world.organization, vector, 3, 0.5)
                for match in matches:
                    assert 0 <= match.false_match_probability <= 1
                    assert match.expected_false_matches <= searched * (1 + 1e-3)
                answered.append(searched)
            except FaceMatchError:
                pass  # nothing enrolled yet, or a store conflict: typed
            except Exception as error:  # noqa: BLE001
                failures.append(f"read: {error!r}")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    writing.clear()
    for thread in readers:
        thread.join()
    assert failures == []
    assert answered, "the readers never found a face: the test tested nothing"
