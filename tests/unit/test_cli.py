"""The facematch CLI against a fake API: requests it sends, lines it prints, codes it exits with."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from itertools import count
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from facematch_cli import connection, console, operations
from facematch_cli import main as cli

URL = "http://facematch.test:3000"
Handler = Callable[[httpx.Request], httpx.Response]
runner = CliRunner()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], list[httpx.Request]]:
    """Route the CLI's HTTP calls to a handler; returns the list the requests get recorded in."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            seen.append(request)
            return handler(request)

        def client(api: connection.Api) -> httpx.Client:
            transport = httpx.MockTransport(record)
            headers = {"x-api-key": api.api_key} if api.api_key else {}
            return httpx.Client(base_url=api.url, timeout=api.timeout, headers=headers, transport=transport)

        monkeypatch.setattr(connection, "_client", client)
        return seen

    return install


def form(request: httpx.Request) -> dict[str, str | tuple[str, bytes]]:
    """A multipart/form-data request's fields: text, or (filename, content) for files."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields: dict[str, str | tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        filename = part.get_filename()
        fields[name] = (filename, content) if filename else content.decode()
    return fields


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def fake_enroll(faces_in_image: int = 1) -> Handler:
    """An enrollment API that finds no face in photos named bad*, and one face elsewhere."""
    ids = count(1)

    def handle(request: httpx.Request) -> httpx.Response:
        fields = form(request)
        organization = fields["organization"]
        name, _ = fields["images"]
        if name.startswith("bad"):
            failure = {"image": name, "error": {"code": "NO_FACE_DETECTED", "message": "No face."}}
            body = {
                "error": {"code": "NO_FACE_DETECTED", "message": "No image could be enrolled."},
                "embeddings": [],
                "failed": [failure],
            }
            return httpx.Response(422, json=body)
        embedding = {
            "embed_id": next(ids),
            "organization": organization,
            "created_at": "2024-01-01T00:00:00Z",
            "face": {"x": 1, "y": 2, "w": 120, "h": 140, "confidence": 0.99},
            "model": "Dlib",
            "image": name,
            "faces_in_image": faces_in_image,
        }
        body = {"organization": organization, "embeddings": [embedding], "failed": []}
        return httpx.Response(201, json=body)

    return handle


def comparison(*, match: bool) -> dict[str, object]:
    return {
        "embed_id": 7,
        "similarity_score": 0.9612 if match else 0.81,
        "distance": 0.0388 if match else 0.19,
        "threshold": 0.07,
        "match": match,
        "model": "Dlib",
        "face": {"x": 1, "y": 2, "w": 120, "h": 140, "confidence": 0.99},
    }


def photos(directory: Path, *names: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in names]
    for path in paths:
        path.write_bytes(b"fake-jpeg " + path.name.encode())
    return paths


def test_enroll_as_a_person_labels_every_photo_and_without_it_none(serve, tmp_path: Path) -> None:
    photos(tmp_path, "a.jpg", "b.jpg")
    requests = serve(fake_enroll())
    result = runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", "--person", "alice", str(tmp_path)])
    assert result.exit_code == 0
    assert [form(r).get("external_id") for r in requests] == ["alice", "alice"]
    requests.clear()
    runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", str(tmp_path / "a.jpg")])
    assert "external_id" not in form(requests[0])


def test_enroll_expands_a_directory_to_its_images_in_name_order_posting_each_once(
    serve, tmp_path: Path
) -> None:
    photos(tmp_path / "team", "c.webp", "a.jpg", "B.JPEG", "d.png", "notes.txt")
    (tmp_path / "team" / "nested.jpg").mkdir()
    requests = serve(fake_enroll())

    result = runner.invoke(
        cli.app, ["--url", URL, "enroll", "--org", "acme", str(tmp_path / "team")]
    )

    assert result.exit_code == 0, result.output
    assert [(r.method, str(r.url)) for r in requests] == [("POST", f"{URL}/api/embeddings")] * 4
    assert [form(r) for r in requests] == [
        {"organization": "acme", "images": (name, b"fake-jpeg " + name.encode())}
        for name in ["B.JPEG", "a.jpg", "c.webp", "d.png"]
    ]
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tmp_path / 'team' / 'B.JPEG'}  embed_id=1  face=120x140"
    assert [line.split("  ")[1] for line in lines[:4]] == [f"embed_id={i}" for i in (1, 2, 3, 4)]
    assert lines[-1] == "enrolled 4, failed 0"


def test_enroll_idempotency_key_is_sent_as_is_for_one_photo_and_numbered_for_several(
    serve, tmp_path: Path
) -> None:
    photos(tmp_path / "team", "a.jpg", "b.jpg")
    requests = serve(fake_enroll())
    for target in (tmp_path / "team" / "a.jpg", tmp_path / "team"):
        result = runner.invoke(
            cli.app, ["--url", URL, "enroll", "--org", "acme", "--idempotency-key", "batch-7", str(target)]
        )
        assert result.exit_code == 0, result.output
    runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", str(tmp_path / "team" / "a.jpg")])
    assert [r.headers.get("idempotency-key") for r in requests] == ["batch-7", "batch-7/1", "batch-7/2", None]


def test_enroll_reports_a_failed_photo_with_its_code_keeps_going_and_exits_1(
    serve, tmp_path: Path
) -> None:
    good, bad, other = photos(tmp_path, "good.jpg", "bad.jpg", "other.jpg")
    serve(fake_enroll())

    result = runner.invoke(
        cli.app, ["--url", URL, "enroll", "--org", "acme", str(good), str(bad), str(other)]
    )

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{good}  embed_id=1  face=120x140",
        f"{bad}  FAILED  NO_FACE_DETECTED: No face.",
        f"{other}  embed_id=2  face=120x140",
        "enrolled 2, failed 1",
    ]


def test_enroll_reports_request_errors_and_non_api_replies_as_failed_photos(
    serve, tmp_path: Path
) -> None:
    large, gateway = photos(tmp_path, "large.jpg", "gateway.jpg")

    def handle(request: httpx.Request) -> httpx.Response:
        if form(request)["images"][0] == "large.jpg":
            return error(413, "IMAGE_TOO_LARGE", "Image is over 10 MB.")
        return httpx.Response(502, text="Bad Gateway")

    serve(handle)

    result = runner.invoke(
        cli.app, ["--url", URL, "enroll", "--org", "acme", str(large), str(gateway)]
    )

    assert result.exit_code == 1
    assert f"{large}  FAILED  IMAGE_TOO_LARGE: Image is over 10 MB." in result.stdout
    assert f"{gateway}  FAILED  HTTP_502: Bad Gateway" in result.stdout
    assert "enrolled 0, failed 2" in result.stdout


def test_enroll_reports_a_photo_that_timed_out_and_enrolls_the_rest(serve, tmp_path: Path) -> None:
    slow, fast = photos(tmp_path, "slow.jpg", "fast.jpg")
    enroll = fake_enroll()

    def handle(request: httpx.Request) -> httpx.Response:
        if form(request)["images"][0] == "slow.jpg":
            raise httpx.ReadTimeout("timed out", request=request)
        return enroll(request)

    serve(handle)

    result = runner.invoke(
        cli.app, ["--url", URL, "--timeout", "5", "enroll", "--org", "acme", str(slow), str(fast)]
    )

    assert result.exit_code == 1
    assert f"{slow}  FAILED  TIMEOUT: no response within 5s" in result.stdout
    assert f"{fast}  embed_id=1" in result.stdout


def test_enroll_notes_when_the_largest_of_several_faces_was_enrolled(serve, tmp_path: Path) -> None:
    (group,) = photos(tmp_path, "group.jpg")
    serve(fake_enroll(faces_in_image=3))

    result = runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", str(group)])

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        f"{group}  embed_id=1  face=120x140  (3 faces in the image; enrolled the largest)"
    )


def test_enroll_json_prints_only_json_on_stdout_while_the_progress_bar_draws_on_stderr(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = photos(tmp_path, "a.jpg", "bad.jpg", "c.jpg", "d.jpg", "e.jpg")
    serve(fake_enroll())
    terminal = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=terminal, force_terminal=True))

    result = runner.invoke(
        cli.app, ["--url", URL, "enroll", "--org", "acme", "--json", *map(str, paths)]
    )

    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["organization"] == "acme"
    assert [e["image"] for e in body["embeddings"]] == ["a.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert body["failed"] == [
        {"image": "bad.jpg", "error": {"code": "NO_FACE_DETECTED", "message": "No face."}}
    ]
    assert "enrolling" in terminal.getvalue()


def test_enroll_a_directory_without_images_is_a_usage_error(serve, tmp_path: Path) -> None:
    photos(tmp_path, "notes.txt")
    requests = serve(fake_enroll())

    result = runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", str(tmp_path)])

    assert result.exit_code == 2
    assert "no .jpg, .jpeg, .png or .webp files found" in result.stderr
    assert requests == []


def test_compare_match_prints_the_verdict_and_exits_0(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    requests = serve(lambda request: httpx.Response(200, json=comparison(match=True)))

    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", str(probe)])

    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "match: embed_id 7 (similarity 0.9612, distance 0.0388 <= threshold 0.07)"
    )
    (request,) = requests
    assert str(request.url) == f"{URL}/api/face-compare"
    assert form(request) == {
        "organization": "acme",
        "image": ("probe.jpg", b"fake-jpeg probe.jpg"),
    }


def test_compare_no_match_names_the_closest_face_and_exits_1(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    requests = serve(lambda request: httpx.Response(200, json=comparison(match=False)))

    result = runner.invoke(
        cli.app, ["--url", URL, "compare", "--org", "acme", "--threshold", "0.07", str(probe)]
    )

    assert result.exit_code == 1
    assert result.stdout.strip() == (
        "no match: closest embed_id 7 (similarity 0.8100, distance 0.1900 > threshold 0.07)"
    )
    assert form(requests[0])["threshold"] == "0.07"


def test_compare_api_error_goes_to_stderr_and_exits_1(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    serve(lambda request: error(404, "ORGANIZATION_NOT_FOUND", "No faces enrolled in 'acme'."))

    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", str(probe)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "error ORGANIZATION_NOT_FOUND: No faces enrolled in 'acme'."


@pytest.mark.parametrize("match, exit_code", [(True, 0), (False, 1)])
def test_compare_json_prints_the_servers_body_and_keeps_the_exit_code(
    serve, tmp_path: Path, match: bool, exit_code: int
) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    serve(lambda request: httpx.Response(200, json=comparison(match=match)))

    result = runner.invoke(
        cli.app, ["--url", URL, "compare", "--org", "acme", "--json", str(probe)]
    )

    assert result.exit_code == exit_code
    assert json.loads(result.stdout) == comparison(match=match)


def significance(body: dict[str, object], *, significant: bool, rule: str = "threshold") -> dict[str, object]:
    return {
        **body, "false_match_probability": 3e-8 if significant else 0.02, "significant": significant,
        "expected_false_matches": 3e-5 if significant else 20.0, "faces_searched": 1000,
        "match_rule": rule, "max_expected_false_matches": 0.01,
    }


def test_compare_says_how_many_chance_matches_a_search_this_size_expects(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    serve(lambda request: httpx.Response(200, json=significance(comparison(match=True), significant=True)))

    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", str(probe)])

    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "match: embed_id 7 (similarity 0.9612, distance 0.0388 <= threshold 0.07); chance matches this close "
        "expected among 1,000 faces: 3e-05, significant (< 0.01; rule: threshold)"
    )


def test_compare_under_the_significance_rule_sends_it_and_says_why_a_close_face_is_no_match(
    serve, tmp_path: Path
) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    close_but_chance = significance(comparison(match=True), significant=False, rule="significance") | {"match": False}
    requests = serve(lambda request: httpx.Response(200, json=close_but_chance))

    result = runner.invoke(
        cli.app,
        ["--url", URL, "compare", "--org", "acme", "--rule", "significance", "--max-expected", "0.5", str(probe)],
    )

    assert result.exit_code == 1
    assert result.stdout.startswith("no match: closest embed_id 7 (similarity 0.9612, distance 0.0388 <= threshold")
    assert "expected among 1,000 faces: 20, not significant (< 0.01; rule: significance)" in result.stdout
    fields = form(requests[0])
    assert (fields["match_rule"], fields["max_expected_false_matches"]) == ("significance", "0.5")


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_compare_refuses_a_bound_that_is_not_a_positive_number(serve, tmp_path: Path, value: str) -> None:
    (probe,) = photos(tmp_path, "probe.jpg")
    requests = serve(lambda request: httpx.Response(200, json=comparison(match=True)))

    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", "--max-expected", value, str(probe)])

    assert result.exit_code == 2
    assert requests == []


CALIBRATION = {
    "organization": "acme", "model": "Dlib", "faces": 12000, "source": "query", "probes": 32, "pairs": 383712,
    "quantiles": {"0.000001": 0.0312, "0.00001": 0.0405, "0.0001": 0.0519},
    "max_expected_false_matches": 0.01, "significant_distance": 0.0277, "threshold": 0.07,
}


def test_calibration_prints_the_significant_distance_and_the_estimate_in_words(serve) -> None:
    requests = serve(lambda request: httpx.Response(200, json=CALIBRATION))

    result = runner.invoke(cli.app, ["--url", URL, "calibration", "--org", "acme", "--max-expected", "0.1"])

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "acme: 12,000 faces (Dlib).",
        "A match is significant at a distance under 0.0277: fewer than 0.01 strangers that close expected by "
        "chance. The threshold is 0.07.",
        "Estimate: fits to the nearest faces of 32 of its own faces, 383,712 stranger distances.",
        "Strangers: 1e-06 within 0.0312, 1e-05 within 0.0405, 0.0001 within 0.0519.",
    ]
    (request,) = requests
    assert str(request.url) == f"{URL}/api/organizations/acme/calibration?max_expected_false_matches=0.1"


def test_calibration_json_prints_the_servers_body_and_an_error_exits_1(serve) -> None:
    serve(lambda request: httpx.Response(200, json=CALIBRATION))
    result = runner.invoke(cli.app, ["--url", URL, "calibration", "--org", "acme", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == CALIBRATION

    serve(lambda request: error(404, "ORGANIZATION_NOT_FOUND", "No faces enrolled in 'acme'."))
    result = runner.invoke(cli.app, ["--url", URL, "calibration", "--org", "acme"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error ORGANIZATION_NOT_FOUND: No faces enrolled in 'acme'."


def test_compare_all_faces_by_person_sends_both_and_prints_a_line_per_face(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "group.jpg")
    alice = significance(comparison(match=True), significant=True) | {"external_id": "alice", "faces_matched": 3}
    stranger = significance(comparison(match=False), significant=False) | {"external_id": None, "faces_matched": 0}
    body = alice | {
        "faces": [alice | {"face": {"x": 1, "y": 2, "w": 300, "h": 300}}, stranger | {"face": {"x": 400, "y": 2, "w": 90, "h": 90}}],
        "faces_left_out": 2,
    }
    requests = serve(lambda request: httpx.Response(200, json=body))

    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", "--all-faces", "--by-person", str(probe)])

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("face 1 at 1,2 (300x300): match: embed_id 7 (alice) (similarity 0.9612")
    assert "3 of alice's faces within it" in lines[0]
    assert "faces within it" not in lines[1]  # an unlabelled face is no person
    assert lines[1].startswith("face 2 at 400,2 (90x90): no match: closest embed_id 7 (similarity 0.8100")
    assert lines[2] == "2 more faces found, not searched (the server's limit per photo)"
    fields = form(requests[0])
    assert (fields["faces"], fields["group_by"]) == ("all", "person")


def test_compare_all_faces_exits_1_when_no_face_matched(serve, tmp_path: Path) -> None:
    (probe,) = photos(tmp_path, "group.jpg")
    miss = comparison(match=False)
    serve(lambda request: httpx.Response(200, json=miss | {"faces": [miss, miss], "faces_left_out": 0}))
    result = runner.invoke(cli.app, ["--url", URL, "compare", "--org", "acme", "--all-faces", str(probe)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2


def test_persons_follows_every_page_and_prints_each_person(serve) -> None:
    pages = {
        None: {"organization": "acme", "persons": [
            {"external_id": "alice", "faces": 4, "first_enrolled_at": "2026-12-01T01:00:00.000Z",
             "last_enrolled_at": "2026-12-01T02:00:00.000Z"}], "next_token": "t1"},
        "t1": {"organization": "acme", "persons": [
            {"external_id": "bob", "faces": 1, "first_enrolled_at": "2026-12-01T03:00:00.000Z",
             "last_enrolled_at": "2026-12-01T03:00:00.000Z"}], "next_token": None},
    }
    requests = serve(lambda request: httpx.Response(200, json=pages[request.url.params.get("next_token")]))

    result = runner.invoke(cli.app, ["--url", URL, "persons", "--org", "acme"])

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "alice: 4 faces, enrolled 2026-12-01T01:00:00.000Z to 2026-12-01T02:00:00.000Z",
        "bob: 1 face, enrolled 2026-12-01T03:00:00.000Z to 2026-12-01T03:00:00.000Z",
        "2 persons",
    ]
    assert [r.url.params.get("next_token") for r in requests] == [None, "t1"]
    assert all(r.url.path == "/api/persons" for r in requests)


def test_audit_prints_the_newest_records_first_and_stops_at_last(serve) -> None:
    def record(at: str, action: str, **what) -> dict:
        return {"organization": "acme", "at": at, "action": action, "actor": "admin", **what}

    pages = {
        None: {"organization": "acme", "records": [
            record("2026-12-01T03:00:00.000Z", "organization.purged", faces=3),
            record("2026-12-01T02:00:00.000Z", "person.deleted", embed_ids=[4, 5])], "next_token": "t1"},
        "t1": {"organization": "acme", "records": [
            record("2026-12-01T01:00:00.000Z", "key.created", key_id="0123456789ab")], "next_token": "t2"},
    }
    requests = serve(lambda request: httpx.Response(200, json=pages[request.url.params.get("next_token")]))

    result = runner.invoke(cli.app, ["--url", URL, "audit", "--org", "acme", "--last", "3"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "2026-12-01T03:00:00.000Z  organization.purged  by admin  3 faces held",
        "2026-12-01T02:00:00.000Z  person.deleted  by admin  embed_ids 4, 5",
        "2026-12-01T01:00:00.000Z  key.created  by admin  key 0123456789ab",
    ]
    assert [(r.url.path, r.url.params.get("next_token"), r.url.params["limit"]) for r in requests] == [
        ("/api/audit", None, "3"), ("/api/audit", "t1", "1"),
    ]


def test_health_prints_the_servers_body(serve) -> None:
    health = {"status": "ok", "model": "Dlib", "detector": "opencv", "version": "1.0.0"}
    requests = serve(lambda request: httpx.Response(200, json=health))

    result = runner.invoke(cli.app, ["--url", URL, "health"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == health
    assert str(requests[0].url) == f"{URL}/api/health"


@pytest.mark.parametrize(
    "command", [["health"], ["enroll", "--org", "acme"], ["compare", "--org", "acme"]]
)
def test_unreachable_api_exits_3_naming_the_url(serve, tmp_path: Path, command: list[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    serve(refuse)
    files = [str(p) for p in photos(tmp_path, "a.jpg")] if command != ["health"] else []

    result = runner.invoke(cli.app, ["--url", URL, *command, *files])

    assert result.exit_code == 3
    assert f"cannot reach the FaceMatch API at {URL}" in result.stderr


def test_url_defaults_to_facematch_url_then_to_localhost(serve) -> None:
    requests = serve(lambda request: httpx.Response(200, json={"status": "ok"}))

    runner.invoke(cli.app, ["health"], env={"FACEMATCH_URL": "http://elsewhere:8080/"})
    runner.invoke(cli.app, ["health"], env={"FACEMATCH_URL": None})

    assert [str(r.url) for r in requests] == [
        "http://elsewhere:8080/api/health",
        "http://127.0.0.1:3000/api/health",
    ]


def test_the_api_key_is_sent_with_every_request(serve):
    seen = serve(lambda request: httpx.Response(200, json={"status": "ok"}))
    result = runner.invoke(cli.app, ["--url", URL, "--api-key", "secret-key", "health"])
    assert result.exit_code == 0, result.output
    assert seen[0].headers["x-api-key"] == "secret-key"


def test_keys_create_prints_the_new_key_once_and_revoke_names_it(serve):
    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert request.url.path == "/api/organizations/acme/keys"
            return httpx.Response(201, json={"organization": "acme", "key_id": "0123456789ab", "api_key": "fmk_x"})
        assert request.url.path == "/api/organizations/acme/keys/0123456789ab"
        return httpx.Response(200, json={"organization": "acme", "key_id": "0123456789ab", "revoked": True})

    serve(api)
    created = runner.invoke(cli.app, ["--url", URL, "--api-key", "admin", "keys", "create", "--org", "acme"])
    assert created.exit_code == 0 and "fmk_x" in created.output and "0123456789ab" in created.output
    revoked = runner.invoke(cli.app, ["--url", URL, "--api-key", "admin", "keys", "revoke", "--org", "acme", "0123456789ab"])
    assert revoked.exit_code == 0 and "revoked 0123456789ab" in revoked.output


def test_a_refused_key_exits_1_with_the_code(serve):
    serve(lambda request: httpx.Response(403, json={"error": {"code": "FORBIDDEN", "message": "no"}}))
    result = runner.invoke(cli.app, ["--url", URL, "--api-key", "k", "keys", "create", "--org", "acme"])
    assert result.exit_code == 1
    assert "FORBIDDEN" in result.stderr


def test_sweep_starts_the_job_and_follows_it_until_it_is_done(serve, monkeypatch):
    monkeypatch.setattr(operations, "SWEEP_POLL_SECONDS", 0)
    states = iter(["running", "done"])

    def api(request: httpx.Request) -> httpx.Response:
        job = {"job_id": "j" * 32, "kind": "sweep", "organization": "*", "progress": {"steps": 2, "deleted_items": 3}}
        if request.method == "POST":
            assert request.url.path == "/api/sweeps" and request.headers["x-api-key"] == "admin"
            return httpx.Response(202, json={**job, "state": "running"})
        assert request.url.path == f"/api/jobs/{'j' * 32}"
        return httpx.Response(200, json={**job, "state": next(states)})

    requests = serve(api)
    result = runner.invoke(cli.app, ["--url", URL, "--api-key", "admin", "sweep"])
    assert result.exit_code == 0 and "sweep done: deleted_items 3, steps 2" in result.output
    assert [r.method for r in requests] == ["POST", "GET", "GET"]


def fake_screening_enroll() -> Handler:
    """An enrollment API that holds alice as embed_id 1: photos named alice* duplicate her."""
    ids = count(2)

    def handle(request: httpx.Request) -> httpx.Response:
        fields = form(request)
        name, _ = fields["images"]
        face = {"x": 1, "y": 2, "w": 120, "h": 140, "confidence": 0.99}
        duplicates = (
            [{"embed_id": 1, "external_id": "alice", "distance": 0.031, "expected_false_matches": 0.0004}]
            if name.startswith("alice")
            else []
        )
        if duplicates and fields.get("on_duplicate") == "skip":
            body = {"organization": "acme", "embeddings": [], "failed": [], "skipped": [{"image": name, "face": face, "duplicates": duplicates}]}
            return httpx.Response(200, json=body)
        embedding = {
            "embed_id": next(ids), "organization": "acme", "created_at": "2024-01-01T00:00:00Z", "face": face,
            "model": "Dlib", "image": name, "faces_in_image": 1, "duplicates": duplicates,
        }
        return httpx.Response(201, json={"organization": "acme", "embeddings": [embedding], "failed": []})

    return handle


def test_enroll_names_the_face_a_photo_duplicates_and_with_skip_reports_it_skipped_not_failed(
    serve, tmp_path: Path
) -> None:
    photos(tmp_path, "alice-2.jpg", "bob.jpg")
    requests = serve(fake_screening_enroll())
    result = runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", str(tmp_path)])
    assert result.exit_code == 0
    assert "alice-2.jpg  embed_id=2  face=120x140  duplicate of embed_id=1 (alice) at distance 0.031" in result.stdout
    assert not {"on_duplicate", "quality_filter"} & set(form(requests[0]))  # the defaults are not sent

    result = runner.invoke(
        cli.app, ["--url", URL, "enroll", "--org", "acme", "--on-duplicate", "skip", "--quality-filter", "auto", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert f"{tmp_path / 'alice-2.jpg'}  SKIPPED  duplicate of embed_id=1 (alice) at distance 0.031" in lines
    assert lines[-1] == "enrolled 1, skipped 1, failed 0"
    assert {(form(r)["on_duplicate"], form(r)["quality_filter"]) for r in requests[-2:]} == {("skip", "auto")}


def test_enroll_refuses_an_unknown_quality_filter_or_on_duplicate_before_sending_anything(
    serve, tmp_path: Path
) -> None:
    photos(tmp_path, "a.jpg")
    requests = serve(fake_screening_enroll())
    for option in (["--quality-filter", "strict"], ["--on-duplicate", "merge"]):
        result = runner.invoke(cli.app, ["--url", URL, "enroll", "--org", "acme", *option, str(tmp_path)])
        assert result.exit_code == 2
    assert requests == []
