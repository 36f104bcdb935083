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
