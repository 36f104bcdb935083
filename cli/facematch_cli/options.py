"""Options that several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

Organization = Annotated[
    str, typer.Option("--org", help="The organization whose faces to enroll into or match against.")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON on stdout instead of text.")
]


def _positive(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter("must be greater than 0")
    return value


MaxExpected = Annotated[
    float | None,
    typer.Option(
        "--max-expected",
        callback=_positive,
        help="Chance matches a search may expect for a match to be significant (default: the server's, 0.01).",
    ),
]
