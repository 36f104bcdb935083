"""The runtime package's layers (docs/architecture.md): the edge reads events and requests, the
use cases never do, and only the data-access modules reach AWS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "facematch"
DATA_ACCESS = {
    "aws", "table", "catalog", "key_store", "audit_store", "job_store", "idempotency", "upload_store", "shards", "photos",
    "report_store",
}
# The edge: what reads requests and events into inputs, and what maps errors to HTTP.
EDGE = {"http", "events", "access"}
# wiring.py (and report_wiring.py, for the report function) build the clients at init, so that
# a cold start pays for them, not a request.
BUILDS_CLIENTS = {"wiring", "report_wiring"}
EVENT_READING = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def modules() -> dict[str, set[str]]:
    """Each module (``routes.holdings`` style), and the full names of everything it imports."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        found[name] = imported
    return found


def test_only_the_data_access_modules_reach_aws():
    reaching = {
        name for name, imported in modules().items()
        if any(i.split(".")[0] in {"boto3", "botocore"} or i.startswith("facematch.aws") for i in imported)
    }
    assert reaching <= DATA_ACCESS | BUILDS_CLIENTS, sorted(reaching - DATA_ACCESS - BUILDS_CLIENTS)


def test_only_the_edge_reads_requests_and_events():
    reading = {name for name, imported in modules().items() if any(i.startswith(EVENT_READING) for i in imported)}
    edge = {name for name in reading if name in EDGE or name.startswith("routes")}
    assert reading == edge, sorted(reading - edge)


@pytest.mark.parametrize("edge", ["facematch.routes", "facematch.http", "facematch.events"])
def test_nothing_below_the_edge_imports_it(edge):
    importers = {
        name for name, imported in modules().items()
        if not name.startswith("routes") and any(i == edge or i.startswith(edge + ".") for i in imported)
    }
    assert importers <= {edge.removeprefix("facematch.")}, sorted(importers)
