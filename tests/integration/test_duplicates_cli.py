"""``facematch duplicates --org X``: a duplicate report started, followed and printed through the
API (the local gateway in process), while the report function works the report queue in the
background as Lambda's event source would."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from facematch_cli import connection, duplicates
from facematch_cli import main as cli
from facematch_local.functions import InProcessFunctions
from facematch_local.gateway import LocalGateway
from facematch_local.queues import QueuePoller
from facematch_testing.face_vectors import dlib_like, planted_copies
from facematch_testing.reports import commit_faces, every_group, read_report

pytestmark = pytest.mark.usefixtures("aws")
ADMIN_KEY = "test-admin-key"


@pytest.fixture
def gateway(api_app, authorizer_app, report_app, aws, monkeypatch):
    """The API through the local gateway, and the report queue worked in the background."""
    functions = InProcessFunctions(
        modules={"ApiFunction": api_app, "AuthorizerFunction": authorizer_app, "ReportFunction": report_app}
    )
    stop = threading.Event()
    poller = QueuePoller(aws["ReportQueue"], 1, lambda event: functions.invoke("ReportFunction", event), stop)
    poller.start()
    monkeypatch.setattr(duplicates, "POLL_SECONDS", 0.05)
    yield LocalGateway(functions, rate_limits=False)
    stop.set()
    poller.join(timeout=10)


def through(gateway: LocalGateway, monkeypatch, interrupt_on: str | None = None) -> list[str]:
    """The CLI's calls go to the gateway; with ``interrupt_on``, a Ctrl-C arrives with the first
    answer to a request of that method on a report."""
    sent: list[str] = []

    class Transport(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            sent.append(f"{request.method} {request.url.path}")
            if interrupt_on and request.method == interrupt_on and "/api/duplicate-reports/" in request.url.path:
                raise KeyboardInterrupt
            return response

    def client(api: connection.Api) -> httpx.Client:
        return httpx.Client(base_url="http://facematch.test", headers={"x-api-key": ADMIN_KEY}, transport=Transport(app=gateway))

    monkeypatch.setattr(connection, "_client", client)
    return sent


def faces_with_a_person_under_two_labels(service, organization: str) -> tuple[int, int]:
    rng = np.random.default_rng(21)
    strangers = dlib_like(80, rng)
    copy = planted_copies(strangers[:1], rng, 0.003)
    ids = commit_faces(service, organization, np.concatenate([strangers, copy]), [f"p{n}" for n in range(80)] + ["p0-again"])
    return int(ids[0]), int(ids[-1])


def test_duplicates_starts_a_report_follows_it_and_prints_each_group_with_its_labels(gateway, api_app, organization, monkeypatch):
    first, again = faces_with_a_person_under_two_labels(api_app.service, organization)
    through(gateway, monkeypatch)

    result = CliRunner().invoke(cli.app, ["duplicates", "--org", organization])

    assert result.exit_code == 0, result.output
    report_id = result.output.split("(report ")[1].split(",")[0]
    assert "81 faces compared" in result.output
    assert f"{len(every_group(api_app, organization, report_id))} group(s)" in result.output
    assert f"embed_id={first}  external_id=p0" in result.output
    assert f"embed_id={again}  external_id=p0-again" in result.output


def test_duplicates_json_prints_the_report_with_every_group(gateway, api_app, organization, monkeypatch):
    first, again = faces_with_a_person_under_two_labels(api_app.service, organization)
    through(gateway, monkeypatch)

    result = CliRunner().invoke(cli.app, ["duplicates", "--org", organization, "--json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "done" and body["faces"] == 81
    shown = [[m["embed_id"] for m in group["members"]] for group in body["groups"]]
    assert [first, again] in shown and shown == every_group(api_app, organization, body["report_id"])


def test_ctrl_c_while_following_cancels_the_report_it_started(gateway, api_app, organization, monkeypatch):
    faces_with_a_person_under_two_labels(api_app.service, organization)
    sent = through(gateway, monkeypatch, interrupt_on="GET")

    result = CliRunner().invoke(cli.app, ["duplicates", "--org", organization])

    assert result.exit_code == 130
    (cancelled,) = [line.split("/")[-1] for line in sent if line.startswith("DELETE")]
    assert read_report(api_app, organization, cancelled)[1]["status"] == "cancelled"


def test_duplicates_of_an_organization_without_faces_fails_with_the_apis_error(gateway, monkeypatch):
    through(gateway, monkeypatch)

    result = CliRunner().invoke(cli.app, ["duplicates", "--org", "nobody-here"])

    assert result.exit_code == 1
    assert "ORGANIZATION_NOT_FOUND" in result.stderr
