"""``facematch duplicates``: every group of an organization's faces that are one person, from a
duplicate report: started (or followed, with --report), shown with a progress bar while its
tasks run, then printed group by group. Ctrl-C cancels a report this command started."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from facematch_cli import console
from facematch_cli.connection import call, connect, fail
from facematch_cli.options import AsJson, MaxExpected, Organization

POLL_SECONDS = 1.0
PAGE = 100
UNDER_WAY = ("queued", "running")


def _progress(as_json: bool) -> Progress:
    """The report's tasks as a bar, on a terminal only (stderr when stdout is JSON or a pipe)."""
    output = console.out if console.out.is_terminal and not as_json else console.err
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=output, transient=True, disable=not output.is_terminal,
    )


def _follow(client: httpx.Client, org: str, report_id: str, as_json: bool) -> dict[str, Any]:
    """Poll the report until it ends; its last status."""
    path = f"/api/duplicate-reports/{report_id}"
    with _progress(as_json) as progress:
        task = progress.add_task("planning", total=None)
        while True:
            body, error = call(client, "GET", path, params={"organization": org, "limit": "1"})
            if error:
                fail(error)
            done, total = body["progress"]["done"], body["progress"]["total"]
            if body["status"] == "running":
                progress.update(task, description="comparing", completed=done, total=total or None)
            if body["status"] not in UNDER_WAY:
                return body
            time.sleep(POLL_SECONDS)


def _groups(client: httpx.Client, org: str, report_id: str, include_same_label: bool) -> list[dict[str, Any]]:
    groups, token = [], None
    while True:
        params = {"organization": org, "limit": str(PAGE), "include_same_label": str(include_same_label).lower()}
        body, error = call(client, "GET", f"/api/duplicate-reports/{report_id}", params={**params, **({"next_token": token} if token else {})})
        if error:
            fail(error)
        groups += body["groups"] or []
        token = body.get("next_token")
        if not token:
            return groups


def _summary(report: dict[str, Any], groups: list[dict[str, Any]]) -> str:
    faces = report.get("faces") or 0
    lines = [
        f"{report['organization']}: {faces:,} faces compared, {report.get('comparisons') or 0:,} pairs; "
        f"a pair is the same person under distance {report['significant_distance']:.4f}"
        if report.get("significant_distance") is not None
        else f"{report['organization']}: {faces:,} faces; no pair can be significant at this size",
        f"{len(groups)} group(s) of duplicates (report {report['report_id']}, manifest {report.get('manifest_version')}).",
    ]
    for number, group in enumerate(groups, 1):
        widest = max(pair["distance"] for pair in group["distances"])
        lines.append(f"group {number}: {len(group['members'])} faces, within {widest:.4f} of each other")
        lines += [
            f"  embed_id={member['embed_id']}  external_id={escape(member.get('external_id') or '-')}"
            for member in group["members"]
        ]
    return "\n".join(lines)


def duplicates(
    ctx: typer.Context,
    org: Organization,
    max_expected: MaxExpected = None,
    include_same_label: Annotated[
        bool, typer.Option("--include-same-label", help="Also groups whose faces all carry one label.")
    ] = False,
    report: Annotated[
        str | None, typer.Option("--report", help="Follow and show this report instead of starting one.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Find every group of the organization's faces that are one person (enrolled twice under two
    labels, or twice without one): start a duplicate report, follow it, print its groups."""
    with connect(ctx.obj) as client:
        started = report is None
        if started:
            payload = {"organization": org, **({"max_expected_false_matches": max_expected} if max_expected else {})}
            body, error = call(client, "POST", "/api/duplicate-reports", json=payload)
            if error:
                fail(error)
            report = body["report_id"]
        try:
            final = _follow(client, org, report, as_json)
        except KeyboardInterrupt:
            if started:
                call(client, "DELETE", f"/api/duplicate-reports/{report}", params={"organization": org})
                console.err.print(f"cancelled report {report}", markup=False)
            raise typer.Exit(130) from None
        if final["status"] != "done":
            fail({"code": final["status"].upper(), "message": final.get("reason") or f"the report was {final['status']}"})
        groups = _groups(client, org, report, include_same_label)
    if as_json:
        console.out.print_json(data={**final, "groups": groups, "next_token": None})
    else:
        console.out.print(_summary(final, groups), highlight=False)
