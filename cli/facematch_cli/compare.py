"""``facematch compare``: the organization's enrolled face closest to a photo's largest face, and
how many chance matches that close a search of that size expects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from facematch_cli import console
from facematch_cli.connection import EXIT_FAILED, call, connect, fail
from facematch_cli.enroll import upload
from facematch_cli.options import AsJson, MaxExpected, Organization


def _verdict(result: dict[str, Any]) -> str:
    """A comparison result in words."""
    numbers = f"similarity {result['similarity_score']:.4f}, distance {result['distance']:.4f}"
    verdict = "match: embed_id" if result["match"] else "no match: closest embed_id"
    relation = "<=" if result["distance"] <= result["threshold"] else ">"
    line = f"{verdict} {result['embed_id']} ({numbers} {relation} threshold {result['threshold']:g})"
    if "expected_false_matches" not in result:  # a server from before match significance
        return line
    bound = result["max_expected_false_matches"]
    significance = "significant" if result["significant"] else "not significant"
    return (
        f"{line}; chance matches this close expected among {result['faces_searched']:,} faces: "
        f"{result['expected_false_matches']:.2g}, {significance} (< {bound:g}; rule: {result['match_rule']})"
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
    rule: Annotated[
        Literal["threshold", "significance"] | None,
        typer.Option(
            help="threshold: a match is within the threshold; significance: and significant too "
            "(default: the server's)."
        ),
    ] = None,
    max_expected: MaxExpected = None,
    as_json: AsJson = False,
) -> None:
    """Find the organization's enrolled face closest to the photo's largest face, and how many
    strangers that close a search of its size expects by chance."""
    data = {"organization": org}
    for name, value in (("threshold", threshold), ("match_rule", rule), ("max_expected_false_matches", max_expected)):
        if value is not None:
            data[name] = str(value)
    with connect(ctx.obj) as client:
        body, error = call(
            client, "POST", "/api/face-compare", data=data, files={"image": upload(image)}
        )
    if as_json and body:
        console.out.print_json(data=body)
    if error:
        fail(error)
    if not as_json:
        console.out.print(_verdict(body), markup=False)
    raise typer.Exit(0 if body["match"] else EXIT_FAILED)
