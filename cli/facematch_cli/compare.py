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


def _verdict(result: dict[str, Any], threshold: float, searched: int) -> str:
    """A match in words."""
    numbers = f"similarity {result['similarity_score']:.4f}, distance {result['distance']:.4f}"
    verdict = "match: embed_id" if result["match"] else "no match: closest embed_id"
    relation = "<=" if result["distance"] <= threshold else ">"
    who = f"{result['embed_id']}" + (f" ({result['external_id']})" if result.get("external_id") else "")
    line = f"{verdict} {who} ({numbers} {relation} threshold {threshold:g})"
    if "faces_matched" in result and result.get("external_id"):
        line += f", {result['faces_matched']} of {result['external_id']}'s faces within it"
    if "expected_false_matches" not in result:  # a server from before match significance
        return line
    significance = "significant" if result["significant"] else "not significant"
    return f"{line}; chance matches this close expected among {searched:,} faces: {result['expected_false_matches']:.2g}, {significance}"


def _answer(body: dict[str, Any]) -> list[str]:
    """The answer in words: the largest face, or each face with faces=all."""
    threshold, searched = body["threshold"], body.get("faces_searched", 0)
    rule = f" (< {body['max_expected_false_matches']:g}; rule: {body['match_rule']})" if "match_rule" in body else ""
    if "faces" not in body:
        return [_verdict(body, threshold, searched) + rule]
    lines = []
    for number, face in enumerate(body["faces"], start=1):
        box = face["face"]
        lines.append(f"face {number} at {box['x']},{box['y']} ({box['w']}x{box['h']}): " + _verdict(face, threshold, searched))
    if body["faces_left_out"]:
        lines.append(f"{body['faces_left_out']} more faces found, not searched (the server's limit per photo)")
    return lines + ([rule.strip()] if rule else [])


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
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Match every face of the photo, not only the largest.")
    ] = False,
    by_person: Annotated[
        bool,
        typer.Option("--by-person", help="One answer per person: their best face, and how many of theirs match."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Find the organization's enrolled face closest to the photo's largest face (or to each
    face), and how many strangers that close a search of its size expects by chance. Exits 0
    when a face matched."""
    data = {"organization": org}
    for name, value in (
        ("threshold", threshold),
        ("match_rule", rule),
        ("max_expected_false_matches", max_expected),
        ("faces", "all" if all_faces else None),
        ("group_by", "person" if by_person else None),
    ):
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
        for line in _answer(body):
            console.out.print(line, markup=False)
    matched = body["match"] or any(face["match"] for face in body.get("faces", []))
    raise typer.Exit(0 if matched else EXIT_FAILED)
