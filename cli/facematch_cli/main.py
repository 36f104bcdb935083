"""The ``facematch`` command: its global options and its commands (one module each)."""

from __future__ import annotations

from typing import Annotated

import typer

from facematch_cli.audit import audit
from facematch_cli.calibration import calibration
from facematch_cli.compare import compare
from facematch_cli.connection import DEFAULT_URL, Api
from facematch_cli.duplicates import duplicates
from facematch_cli.enroll import enroll
from facematch_cli.imports import import_tree
from facematch_cli.keys import keys
from facematch_cli.operations import health, sweep
from facematch_cli.persons import persons

app = typer.Typer(
    help="Enroll faces into an organization and match photos against them.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="FACEMATCH_URL", help="Base URL of the FaceMatch API.")
    ] = DEFAULT_URL,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each response.")
    ] = 60.0,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="FACEMATCH_API_KEY", help="Sent as x-api-key: an organization's key or the admin key."),
    ] = None,
) -> None:
    """Enroll faces into an organization and match photos against them."""
    ctx.obj = Api(url.rstrip("/"), timeout, api_key)


app.command()(enroll)
app.command("import")(import_tree)
app.command()(compare)
app.command()(calibration)
app.command()(duplicates)
app.command()(persons)
app.command()(health)
app.command()(sweep)
app.command()(audit)
app.add_typer(keys, name="keys")


def main() -> None:
    """Entry point of the ``facematch`` console script."""
    app()
