"""``facematch import DIR``: a photo tree enrolled through the API (the local gateway in process),
resumable after an interruption, its failures reported as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from facematch_cli import connection
from facematch_cli import main as cli
from facematch_local.functions import InProcessFunctions
from facematch_local.gateway import LocalGateway
from facematch_testing.api import request
from facematch_testing.photos import blank_image
from facematch_testing.synthetic import synthetic_photo

pytestmark = pytest.mark.usefixtures("aws")
ADMIN_KEY = "test-admin-key"
PERSONS = {("acme", "ann"): 3, ("acme", "bob"): 2, ("acme", "cy"): 2, ("beta", "dan"): 2}


@pytest.fixture
def gateway(api_app, matching_app, authorizer_app) -> LocalGateway:
    functions = InProcessFunctions(
        modules={"ApiFunction": api_app, "MatchingFunction": matching_app, "AuthorizerFunction": authorizer_app}
    )
    return LocalGateway(functions, rate_limits=False)


def photo_tree(root: Path) -> Path:
    for (organization, person), count in PERSONS.items():
        folder = root / organization / person
        folder.mkdir(parents=True)
        for n in range(count):
            (folder / f"{n}.jpg").write_bytes(synthetic_photo(person, n))
    (root / "acme" / "wall").mkdir()
    (root / "acme" / "wall" / "wall.png").write_bytes(blank_image())
    (root / "acme" / "loose.jpg").write_bytes(synthetic_photo("eve"))
    return root


def through(gateway: LocalGateway, monkeypatch, interrupt_after: int | None = None) -> list[str]:
    """The CLI's HTTP calls go to the gateway; ``interrupt_after`` enrollments have landed, the
    next one lands too but its answer is lost to a Ctrl-C (the worst moment to stop)."""
    sent: list[str] = []

    class Interrupting(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path == "/api/embeddings":
                sent.append(request.headers["Idempotency-Key"])
                if interrupt_after is not None and len(sent) > interrupt_after:
                    raise KeyboardInterrupt
            return response

    def client(api: connection.Api) -> httpx.Client:
        return httpx.Client(
            base_url="http://facematch.test", headers={"x-api-key": ADMIN_KEY}, transport=Interrupting(app=gateway)
        )

    monkeypatch.setattr(connection, "_client", client)
    return sent


def held(api_app, context, organization: str) -> list[tuple[str, str]]:
    _, body = request(api_app, context, "GET", "/api/embeddings", {"organization": organization, "limit": "1000"})
    return sorted((e["external_id"], e["source"]) for e in body["embeddings"])


def run(tree: Path, report: Path, *options: str):
    return CliRunner().invoke(cli.app, ["import", str(tree), "--report", str(report), *options])


@pytest.mark.parametrize("interrupt_after", [0, 4, 8])
def test_an_import_interrupted_and_run_again_holds_each_photo_once_under_its_person(
    gateway, api_app, lambda_context, tmp_path, monkeypatch, interrupt_after
):
    tree, report = photo_tree(tmp_path / "tree"), tmp_path / "failures.csv"
    first = through(gateway, monkeypatch, interrupt_after)
    interrupted = run(tree, report, "--concurrency", "2")
    assert interrupted.exit_code == 130  # as a Ctrl-C ends it
    assert len(first) <= interrupt_after + 2  # the two workers' requests under way, no more

    again = through(gateway, monkeypatch)
    result = run(tree, report, "--concurrency", "3")
    assert result.exit_code == 1, result.output  # the face-less photo and the loose one
    assert "enrolled 9, skipped 0, failed 2" in result.output
    expected = {org: sorted((person, f"{n}.jpg") for (o, person), count in PERSONS.items() if o == org for n in range(count))
                for org in ("acme", "beta")}
    assert held(api_app, lambda_context, "acme") == expected["acme"]
    assert held(api_app, lambda_context, "beta") == expected["beta"]
    assert set(first) <= set(again)  # the same photos carried the same keys

    third = run(tree, report)  # a third run changes nothing either
    assert "enrolled 9" in third.output and held(api_app, lambda_context, "acme") == expected["acme"]


def test_the_failure_report_lists_each_photo_without_a_face_and_each_photo_outside_the_tree(
    gateway, tmp_path, monkeypatch
):
    tree, report = photo_tree(tmp_path / "tree"), tmp_path / "failures.csv"
    through(gateway, monkeypatch)
    result = run(tree, report)
    assert result.exit_code == 1
    assert "NO_FACE_DETECTED: 1" in result.output and "NOT_IN_TREE: 1" in result.output
    rows = list(csv.DictReader(report.open()))
    assert [(r["organization"], r["person"], Path(r["photo"]).name, r["code"]) for r in rows] == [
        ("acme", "wall", "wall.png", "NO_FACE_DETECTED"), ("", "", "loose.jpg", "NOT_IN_TREE"),
    ]


def test_with_skip_a_persons_second_copy_of_a_photo_is_skipped_not_stored(gateway, api_app, lambda_context, tmp_path, monkeypatch):
    """A person's photos go one after another, so each is screened against the person's earlier ones."""
    tree = tmp_path / "tree"
    (tree / "acme" / "ann").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tree / "acme" / "ann" / name).write_bytes(synthetic_photo("ann"))
    through(gateway, monkeypatch)
    result = run(tree, tmp_path / "failures.csv", "--on-duplicate", "skip", "--concurrency", "4")
    assert result.exit_code == 0, result.output
    assert "enrolled 1, skipped 2, failed 0" in result.output
    assert held(api_app, lambda_context, "acme") == [("ann", "a.jpg")]


def test_a_throttled_photo_is_sent_again_until_it_lands(gateway, api_app, lambda_context, tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    (tree / "acme" / "ann").mkdir(parents=True)
    (tree / "acme" / "ann" / "a.jpg").write_bytes(synthetic_photo("ann"))
    refused = []

    class Throttled(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/embeddings" and len(refused) < 2:
                refused.append(request)
                return httpx.Response(429, json={"error": {"code": "RATE_LIMITED", "message": "slow down"}})
            return super().handle_request(request)

    monkeypatch.setattr(
        connection, "_client",
        lambda api: httpx.Client(base_url="http://facematch.test", headers={"x-api-key": ADMIN_KEY}, transport=Throttled(app=gateway)),
    )
    result = run(tree, tmp_path / "failures.csv")
    assert result.exit_code == 0, result.output
    assert len(refused) == 2 and held(api_app, lambda_context, "acme") == [("ann", "a.jpg")]
