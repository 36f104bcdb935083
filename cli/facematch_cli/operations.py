"""``facematch health`` and ``facematch sweep``: is the API up, and clean up now."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson

SWEEP_POLL_SECONDS = 1.0


def health(ctx: typer.Context) -> None:
    """Check that the API is up; prints its status, model and version."""
    with connect(ctx.obj) as client:
        body, error = call(client, "GET", "/api/health")
    if error:
        fail(error)
    console.out.print_json(data=body)


def sweep(
    ctx: typer.Context,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it is done.")] = True,
    as_json: AsJson = False,
) -> None:
    """Sweep every organization now (needs the admin key): delete what failures left behind and
    what expired, as the hourly schedule does."""
    with connect(ctx.obj) as client:
        body, error = call(client, "POST", "/api/sweeps")
        while not error and wait and body.get("state") == "running":
            time.sleep(SWEEP_POLL_SECONDS)
            body, error = call(client, "GET", f"/api/jobs/{body['job_id']}")
    if error:
        fail(error)
    if as_json:
        console.out.print_json(data=body)
    else:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(body.get("progress", {}).items()))
        console.out.print(f"sweep {body['state']}: {counts or 'started'}", markup=False)
