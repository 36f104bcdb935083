"""``facematch audit``: an organization's audit trail, newest first (needs the admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson, Organization

PAGE = 1000


def audit(
    ctx: typer.Context,
    org: Organization,
    last: Annotated[int, typer.Option(min=1, help="How many records, newest first.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Who created and revoked keys, deleted faces and purged the organization, and when."""
    found: list[dict] = []
    token = None
    with connect(ctx.obj) as client:
        while len(found) < last:
            params = {"organization": org, "limit": str(min(PAGE, last - len(found)))}
            body, error = call(client, "GET", "/api/audit", params=params | ({"next_token": token} if token else {}))
            if error:
                fail(error)
            found += body["records"]
            token = body.get("next_token")
            if not token:
                break
    if as_json:
        console.out.print_json(data={"organization": org, "records": found})
        return
    for record in found:
        console.out.print(f"{record['at']}  {record['action']}  by {record['actor']}  {_what(record)}", markup=False)


def _what(record: dict) -> str:
    if "key_id" in record:
        return f"key {record['key_id']}"
    if "embed_ids" in record:
        return "embed_ids " + ", ".join(str(embed_id) for embed_id in record["embed_ids"])
    if "faces" in record:
        return f"{record['faces']} faces held"
    return ""
