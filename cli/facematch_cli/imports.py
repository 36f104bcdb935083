"""``facematch import DIR``: a photo tree ``ORGANIZATION/PERSON/photo.jpg`` enrolled, each person
the label of their photos; run it again after an interruption and nothing is enrolled twice."""

from __future__ import annotations

import csv
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from facematch_cli import console
from facematch_cli.connection import EXIT_FAILED, connect
from facematch_cli.enroll import DEFAULTS, progress_bar, upload
from facematch_cli.inbox import upload_all
from facematch_cli.pacing import Pace, paced_call
from facematch_cli.photo_tree import Outcome, TreePhoto, by_person, in_parallel, photo_tree

REPORT_COLUMNS = ("organization", "person", "photo", "code", "message")


def enroll_photo(client, pace: Pace, photo: TreePhoto, options: dict[str, str]) -> Outcome:  # noqa: ANN001
    body, error = paced_call(
        client, pace, "POST", "/api/embeddings",
        data={"organization": photo.organization, "external_id": photo.person, **options},
        files={"images": upload(photo.path)},
        headers={"Idempotency-Key": photo.idempotency_key()},
    )
    if error:
        failures = body.get("failed") or []
        return Outcome(photo, "failed", failures[0]["error"] if failures else error)
    return Outcome(photo, "enrolled" if body.get("embeddings") else "skipped")


def write_report(path: Path, outcomes: list[Outcome], misplaced: list[Path], root: Path) -> None:
    with path.open("w", newline="") as report:
        writer = csv.writer(report)
        writer.writerow(REPORT_COLUMNS)
        for outcome in outcomes:
            if outcome.status == "failed":
                photo = outcome.photo
                writer.writerow([photo.organization, photo.person, str(photo.path), outcome.error["code"], outcome.error["message"]])
        for path in misplaced:
            writer.writerow(["", "", str(path), "NOT_IN_TREE", f"not at ORGANIZATION/PERSON/photo under {root}"])


def summary(outcomes: list[Outcome], misplaced: list[Path]) -> str:
    counts = Counter(outcome.status for outcome in outcomes)
    reasons = Counter(outcome.error["code"] for outcome in outcomes if outcome.status == "failed")
    reasons.update({"NOT_IN_TREE": len(misplaced)} if misplaced else {})
    line = f"enrolled {counts['enrolled']}, skipped {counts['skipped']}, failed {sum(reasons.values())}"
    return line + "".join(f"\n  {code}: {count}" for code, count in reasons.most_common())


def import_tree(
    ctx: typer.Context,
    root: Annotated[Path, typer.Argument(metavar="DIR", exists=True, file_okay=False, help="ORGANIZATION/PERSON/photo.jpg")],
    on_duplicate: Annotated[
        Literal["allow", "skip"], typer.Option(help="skip: do not store a face the organization already holds.")
    ] = "allow",
    quality_filter: Annotated[
        Literal["none", "auto", "high"], typer.Option(help="Refuse faces too small or too blurred (auto), or short of a portrait's detail (high).")
    ] = "none",
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Requests in flight at once.")] = 4,
    max_per_second: Annotated[
        float, typer.Option(min=0.1, help="Requests a second at most, under the API's per-key rate limit (10 by default).")
    ] = 8.0,
    report: Annotated[Path, typer.Option(help="Where the failures are written, as CSV.")] = Path("facematch-import-failures.csv"),
    via_s3: Annotated[
        bool, typer.Option("--via-s3", help="Upload the photos to the bucket's inbox, then follow their outcomes.")
    ] = False,
) -> None:
    """Enroll a photo tree, ORGANIZATION/PERSON/photo.jpg: each person's folder name is the label
    of their photos. Run it again after an interruption: each photo carries an Idempotency-Key of
    its own (within 24 hours nothing is enrolled twice; after, --on-duplicate skip keeps it so)."""
    photos, misplaced = photo_tree(root)
    if not photos:
        raise typer.BadParameter("no photo at ORGANIZATION/PERSON/photo (.jpg .jpeg .png .webp).", param_hint="DIR")
    options = {name: value for name, value in {"quality_filter": quality_filter, "on_duplicate": on_duplicate}.items()
               if value != DEFAULTS[name]}
    pace = Pace(max_per_second)
    with connect(ctx.obj) as client, progress_bar(len(photos), as_json=False) as progress:
        task = progress.add_task("importing", total=len(photos))
        if via_s3:
                outcomes = upload_all(client, pace, photos, options, concurrency, lambda: progress.advance(task))
        else:
            outcomes = _enroll_all(client, pace, photos, options, concurrency, lambda: progress.advance(task))
    write_report(report, outcomes, misplaced, root)
    console.out.print(summary(outcomes, misplaced), markup=False)
    console.out.print(f"failures written to {report}", markup=False)
    raise typer.Exit(EXIT_FAILED if any(o.status == "failed" for o in outcomes) or misplaced else 0)


def _enroll_all(
    client, pace: Pace, photos: list[TreePhoto], options: dict[str, str], concurrency: int, advance: Callable[[], Any]  # noqa: ANN001
) -> list[Outcome]:
    stopping = threading.Event()

    def person(photos_of_one: list[TreePhoto]) -> list[Outcome]:
        outcomes = []
        for photo in photos_of_one:
            if stopping.is_set():
                break
            outcomes.append(enroll_photo(client, pace, photo, options))
            advance()
        return outcomes

    return in_parallel(person, by_person(photos), concurrency, stopping)


