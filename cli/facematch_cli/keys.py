"""``facematch keys``: create and revoke organizations' API keys (needs the admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson, Organization

keys = typer.Typer(help="Create and revoke organizations' API keys (needs the admin key).")


@keys.command("create")
def create_key(ctx: typer.Context, org: Organization, as_json: AsJson = False) -> None:
    """Create an API key for an organization; it is shown once."""
    with connect(ctx.obj) as client:
        body, error = call(client, "POST", f"/api/organizations/{org}/keys")
    if error:
        fail(error)
    if as_json:
        console.out.print_json(data=body)
    else:
        console.out.print(
            f"key_id {body['key_id']}  api_key {body['api_key']}  (shown once: store it now)", markup=False
        )


@keys.command("revoke")
def revoke_key(
    ctx: typer.Context,
    org: Organization,
    key_id: Annotated[str, typer.Argument(help="The key_id printed by keys create.")],
) -> None:
    """Revoke an API key (API Gateway's cache may accept it for AuthorizerCacheSeconds more, 60 by default)."""
    with connect(ctx.obj) as client:
        _, error = call(client, "DELETE", f"/api/organizations/{org}/keys/{key_id}")
    if error:
        fail(error)
    console.out.print(f"revoked {key_id}", markup=False)
