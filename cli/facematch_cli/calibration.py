"""``facematch calibration``: how close strangers come in an organization, and so how close a
match must be to be significant at its size today."""

from __future__ import annotations

from typing import Any

import typer

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson, MaxExpected, Organization

SOURCES = {
    "query": "fits to the nearest faces of {probes} of its own faces, {pairs:,} stranger distances",
    "reference": "the model's reference ({pairs:,} stranger distances of test photos): too few faces for its own",
    "none": "none: too few faces, and no reference for this model, so no match is significant",
}


def _summary(body: dict[str, Any]) -> str:
    quantiles = ", ".join(f"{float(share):g} within {distance:.4f}" for share, distance in body["quantiles"].items())
    return "\n".join(
        [
            f"{body['organization']}: {body['faces']:,} faces ({body['model']}).",
            f"A match is significant at a distance under {body['significant_distance']:.4f}: fewer than "
            f"{body['max_expected_false_matches']:g} strangers that close expected by chance. "
            f"The threshold is {body['threshold']:g}.",
            "Estimate: " + SOURCES[body["source"]].format(**body) + ".",
            f"Strangers: {quantiles}." if quantiles else "",
        ]
    ).strip()


def calibration(ctx: typer.Context, org: Organization, max_expected: MaxExpected = None, as_json: AsJson = False) -> None:
    """Show how sure a match can be in the organization: the distance under which it is
    significant at its size, and how close strangers come."""
    params = {} if max_expected is None else {"max_expected_false_matches": str(max_expected)}
    with connect(ctx.obj) as client:
        body, error = call(client, "GET", f"/api/organizations/{org}/calibration", params=params)
    if error:
        fail(error)
    if as_json:
        console.out.print_json(data=body)
    else:
        console.out.print(_summary(body), markup=False, highlight=False)
