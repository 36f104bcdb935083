"""``facematch enroll``: the largest face of each photo, one request per photo."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from facematch_cli import console
from facematch_cli.connection import EXIT_FAILED, call, connect
from facematch_cli.options import AsJson, Organization

# The server's defaults: not sent, so the CLI works with servers older than these options.
DEFAULTS = {"quality_filter": "none", "on_duplicate": "allow"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
PROGRESS_MIN_FILES = 4


def upload(path: Path) -> tuple[str, bytes, str]:
    """The multipart file field for the photo at path."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, path.read_bytes(), content_type


def _request_keys(key: str | None, requests: int) -> list[str | None]:
    """Each request's Idempotency-Key: the key itself for one photo, KEY/1, KEY/2... for several."""
    if key is None:
        return [None] * requests
    return [key] if requests == 1 else [f"{key}/{n}" for n in range(1, requests + 1)]


def _images(paths: list[Path]) -> list[Path]:
    """The photos to enroll: each file as given, and each directory's images in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            files.append(path)
    return files


def progress_bar(total: int, as_json: bool) -> Progress:
    """A progress bar for long enrollments, shown only on a terminal.

    It shares stdout's console when the result lines go to that terminal too (so they print above
    the bar); otherwise it draws on stderr and leaves stdout (JSON, a pipe) untouched.
    """
    output = console.out if console.out.is_terminal and not as_json else console.err
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
        disable=total < PROGRESS_MIN_FILES or not output.is_terminal,
    )


def _enrolled_line(path: Path, embedding: dict[str, Any]) -> str:
    """The result line of a photo whose face was enrolled."""
    face = embedding["face"]
    line = f"{escape(str(path))}  embed_id={embedding['embed_id']}  face={face['w']}x{face['h']}"
    faces = embedding.get("faces_in_image", 1)
    if faces > 1:
        line += f"  ({faces} faces in the image; enrolled the largest)"
    return line + _duplicates(embedding.get("duplicates", []))


def _skipped_line(path: Path, skipped: dict[str, Any]) -> str:
    """The result line of a photo not stored because its face was already held."""
    return f"{escape(str(path))}  [bold yellow]SKIPPED[/]" + _duplicates(skipped["duplicates"])


def _duplicates(duplicates: list[dict[str, Any]]) -> str:
    if not duplicates:
        return ""
    best = duplicates[0]
    person = f" ({escape(best['external_id'])})" if best.get("external_id") else ""
    more = f", and {len(duplicates) - 1} more" if len(duplicates) > 1 else ""
    return f"  duplicate of embed_id={best['embed_id']}{person} at distance {best['distance']:g}{more}"


def _failed_line(path: Path, error: dict[str, str]) -> str:
    """The result line of a photo that could not be enrolled."""
    message = escape(f"{error['code']}: {error['message']}")
    return f"{escape(str(path))}  [bold red]FAILED[/]  {message}"


def enroll(
    ctx: typer.Context,
    org: Organization,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE_OR_DIR",
            exists=True,
            readable=True,
            help="Photos, or directories of photos (.jpg .jpeg .png .webp).",
        ),
    ],
    as_json: AsJson = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Run the same command again and nothing is enrolled twice. With several photos, "
            "the n-th photo's request (in the order enrolled) carries KEY/n.",
        ),
    ] = None,
    person: Annotated[
        str | None,
        typer.Option(
            "--person",
            help="The person (external_id) every photo shows: compare --by-person, persons and deleting "
            "a person go by it.",
        ),
    ] = None,
    quality_filter: Annotated[
        Literal["none", "auto", "high"],
        typer.Option(help="Refuse faces too small or too blurred to be recognised again (auto), or short of a portrait's detail (high)."),
    ] = "none",
    on_duplicate: Annotated[
        Literal["allow", "skip"],
        typer.Option(help="skip: do not store a face the organization already holds."),
    ] = "allow",
) -> None:
    """Enroll the largest face of each photo, one request per photo, in order: each photo is
    screened against those enrolled before it, so --on-duplicate skip keeps one per person."""
    files = _images(paths)
    if not files:
        raise typer.BadParameter(
            "no .jpg, .jpeg, .png or .webp files found.", param_hint="FILE_OR_DIR"
        )
    keys = _request_keys(idempotency_key, len(files))
    enrolled: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    options = {"quality_filter": quality_filter, "on_duplicate": on_duplicate}
    sent = {name: value for name, value in options.items() if value != DEFAULTS[name]}
    with connect(ctx.obj) as client, progress_bar(len(files), as_json) as progress:
        task = progress.add_task("enrolling", total=len(files))
        for path, key in zip(files, keys):
            body, error = call(
                client,
                "POST",
                "/api/embeddings",
                data={"organization": org, **({"external_id": person} if person else {}), **sent},
                files={"images": upload(path)},
                headers={"Idempotency-Key": key} if key else None,
            )
            embeddings = [] if error else body.get("embeddings", [])
            failures = body.get("failed") or []
            if error and not failures:
                failures = [{"image": path.name, "error": error}]
            skips = [] if error else body.get("skipped", [])
            enrolled += embeddings
            skipped += skips
            failed += failures
            if not as_json:
                for embedding in embeddings:
                    console.out.print(_enrolled_line(path, embedding))
                for skip in skips:
                    console.out.print(_skipped_line(path, skip))
                for failure in failures:
                    console.out.print(_failed_line(path, failure["error"]))
            progress.advance(task)
    if as_json:
        console.out.print_json(
            data={"organization": org, "embeddings": enrolled, "skipped": skipped, "failed": failed}
        )
    else:
        console.out.print(
            f"enrolled {len(enrolled)}, " + (f"skipped {len(skipped)}, " if skipped else "") + f"failed {len(failed)}"
        )
    raise typer.Exit(EXIT_FAILED if failed else 0)
