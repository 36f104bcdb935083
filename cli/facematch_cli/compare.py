"""``facematch compare``: the organization's enrolled face closest to a photo's largest face."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from facematch_cli import console
from facematch_cli.connection import EXIT_FAILED, call, connect, fail
from facematch_cli.enroll import upload
from facematch_cli.options import AsJson, Organization


def _verdict(result: dict[str, Any]) -> str:
    """A comparison result in words."""
    numbers = f"similarity {result['similarity_score']:.4f}, distance {result['distance']:.4f}"
    if result["match"]:
        verdict, relation = "match: embed_id", "<="
    else:
        verdict, relation = "no match: closest embed_id", ">"
    return (
        f"{verdict} {result['embed_id']} "
        f"({numbers} {relation} threshold {result['threshold']:g})"
    )


def compare(
    ctx: typer.Context,
    org: Organization,
    image: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, readable=True, help="The photo to match."
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(help="Largest cosine distance that is a match (default: the server's)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Find the organization's enrolled face closest to the photo's largest face."""
    data = {"organization": org}
    if threshold is not None:
        data["threshold"] = str(threshold)
    with connect(ctx.obj) as client:
        body, error = call(
            client, "POST", "/api/face-compare", data=data, files={"image": upload(image)}
        )
    if as_json and body:
        console.out.print_json(data=body)
    if error:
        fail(error)
    if not as_json:
        console.out.print(_verdict(body))
    raise typer.Exit(0 if body["match"] else EXIT_FAILED)
