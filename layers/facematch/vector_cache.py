"""How many bytes of warm vectors one process may hold, and which organizations to evict for more.

``VectorStore`` (search.py) keeps each organization's vectors warm until the budget is reached,
then drops the least recently used organizations (one searched again is loaded again).

The budget is ``Settings.vector_cache_bytes`` when set; otherwise the function's memory
(Lambda's ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, in MiB) less ``RESERVE_MIB`` for everything that
is not warm vectors; where neither is known (local stack, tests, benchmarks) there is none, and
nothing is ever evicted. The reserve, 1200 MiB:

    runtime, libraries and the face model        320 MiB  the API function measured 322 MB cold
    one photo being decoded and processed        480 MiB  max_decoded_bytes (120 MB) x 4 copies;
                                                          the template's measured figure for a
                                                          40-megapixel photo is about 410 MB
    the score matrix of a compare                 80 MiB  4 B x 1M faces (the per-organization
                                                          limit) x 20 queries = 80 MB
    a growth copy, and allocator slack           320 MiB
                                                ---------
                                                1200 MiB

A growth copy (``OrganizationIndex.reserve``) holds an organization's rows twice until it
returns; the store counts it with the rows being loaded, evicting other organizations for it,
so the 320 MiB matter only when one organization alone and its copy exceed the budget. In the
API function that happens after the photos were embedded (their pixels released), so the
photo's 480 MiB are free for it too: a 1M-face organization (496 MiB) held twice is 992 MiB,
423 MiB over that function's budget, within those 800 MiB; in the matching function the refresh overlaps the decode,
but its budget (1808 MiB at 3008 MB) holds a 1M-face organization twice over.

So the API function (1769 MB) keeps 569 MiB of vectors warm: 1,147,384 faces of Dlib's 128
dimensions, 520 bytes each (8 for the id, 4 per dimension); the matching function (3008 MB)
keeps 1808 MiB, 3,645,818 faces.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from facematch.config import Settings

MIB = 1024 * 1024
RESERVE_MIB = 1200
ID_BYTES = 8
COMPONENT_BYTES = 4  # float32

Key = TypeVar("Key", bound=Hashable)


def bytes_per_face(dimensions: int) -> int:
    """What one warm face holds: its id (int64) and its vector (float32)."""
    return ID_BYTES + COMPONENT_BYTES * dimensions


def budget_for_memory(memory_mb: int) -> int:
    """The warm vectors' budget in a function of ``memory_mb`` (Lambda's MB are MiB)."""
    return max(0, memory_mb - RESERVE_MIB) * MIB


def budget_bytes(settings: Settings) -> int | None:
    """The configured budget, else the one derived from the function's memory, else None (no budget)."""
    if settings.vector_cache_bytes is not None:
        return settings.vector_cache_bytes
    if settings.function_memory_mb is not None:
        return budget_for_memory(settings.function_memory_mb)
    return None


def faces_that_fit(memory_mb: int, dimensions: int) -> int:
    """How many faces a function of ``memory_mb`` keeps warm under the derived budget."""
    return budget_for_memory(memory_mb) // bytes_per_face(dimensions)


def evictions(others: Iterable[tuple[Key, int]], held: int, needed: int, budget: int) -> list[Key]:
    """Which of ``others`` (key and bytes held, least recently used first) to evict so that
    ``held`` (every index's bytes, those of ``others`` included) plus ``needed`` fits ``budget``:
    the fewest, oldest first. When even evicting them all is not enough, all of them."""
    evicted: list[Key] = []
    for key, size in others:
        if held + needed <= budget:
            break
        evicted.append(key)
        held -= size
    return evicted
