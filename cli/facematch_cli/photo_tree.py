"""A photo tree, ``ORGANIZATION/PERSON/photo.jpg``: its photos, grouped by person, and the work
on them done a few at a time."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from facematch_cli.enroll import IMAGE_SUFFIXES


@dataclass(frozen=True)
class TreePhoto:
    organization: str
    person: str
    path: Path

    def idempotency_key(self) -> str:
        """The same for the same photo (name and content) of the same person of the same
        organization, run after run: the API answers a key with its first answer only for the
        same request, file name included."""
        digest = hashlib.sha256()
        for part in (self.organization.encode(), self.person.encode(), self.path.name.encode(), self.path.read_bytes()):
            digest.update(hashlib.sha256(part).digest())
        return f"import-{digest.hexdigest()}"


@dataclass(frozen=True)
class Outcome:
    photo: TreePhoto
    status: Literal["enrolled", "skipped", "failed"]
    error: dict[str, str] | None = None


def photo_tree(root: Path) -> tuple[list[TreePhoto], list[Path]]:
    """The photos at ``ORGANIZATION/PERSON/photo``, and the images anywhere else (not imported)."""
    photos, misplaced = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        parts = path.relative_to(root).parts
        if len(parts) == 3:
            photos.append(TreePhoto(parts[0], parts[1], path))
        else:
            misplaced.append(path)
    return photos, misplaced


def by_person(photos: list[TreePhoto]) -> list[list[TreePhoto]]:
    """Each person's photos, in name order: sent one after another, so that each is screened
    against the person's earlier ones (``--on-duplicate skip``); persons go in parallel."""
    persons: dict[tuple[str, str], list[TreePhoto]] = {}
    for photo in photos:
        persons.setdefault((photo.organization, photo.person), []).append(photo)
    return list(persons.values())


def in_parallel(work: Callable[[Any], list[Outcome]], items: list[Any], concurrency: int, stopping: threading.Event) -> list[Outcome]:
    """``work`` on each item, ``concurrency`` at a time; interrupted (Ctrl-C), the work under way
    finishes its request and the rest is not started: the same command resumes it."""
    def guarded(item: Any) -> list[Outcome]:
        try:
            return work(item)
        except BaseException:
            stopping.set()  # the other workers stop before their next request
            raise

    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = [pool.submit(guarded, item) for item in items]
        return [outcome for future in futures for outcome in future.result()]
    except BaseException:
        stopping.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
