"""``facematch persons``: the persons an organization holds, with their faces."""

from __future__ import annotations

import typer

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson, Organization

PAGE = 1000


def persons(ctx: typer.Context, org: Organization, as_json: AsJson = False) -> None:
    """List the organization's persons (external_id): how many faces each has, and when the
    first and the last were enrolled. Every page, in name order."""
    found, token = [], None
    with connect(ctx.obj) as client:
        while True:
            params = {"organization": org, "limit": str(PAGE), **({"next_token": token} if token else {})}
            body, error = call(client, "GET", "/api/persons", params=params)
            if error:
                fail(error)
            found += body["persons"]
            token = body.get("next_token")
            if not token:
                break
    if as_json:
        console.out.print_json(data={"organization": org, "persons": found})
        return
    for person in found:
        console.out.print(
            f"{person['external_id']}: {person['faces']} face{'s' if person['faces'] != 1 else ''}, "
            f"enrolled {person['first_enrolled_at']} to {person['last_enrolled_at']}",
            markup=False,
        )
    console.out.print(f"{len(found)} persons", markup=False)
