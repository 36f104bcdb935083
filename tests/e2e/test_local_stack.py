"""`make run` serves the API over HTTP the way API Gateway and Lambda would, and stops cleanly."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from facematch_testing.photos import blank_image, identities
from facematch_testing.stack import ADMIN_KEY, start_stack, wait_for_uploads

# One stack for the module under `--dist loadgroup` (make test), not one on each worker.
pytestmark = [pytest.mark.model, pytest.mark.xdist_group("local-stack")]
CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "facematch"


def curl(*args: str, cwd: Path, key: str = ADMIN_KEY) -> tuple[int, dict]:
    """Run curl as a person would (with an x-api-key); returns the HTTP status and the JSON body."""
    completed = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "-H", f"x-api-key: {key}", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )
    body, _, status = completed.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_the_readme_curl_commands_enroll_and_compare(local_stack, faces_dir):
    status, enrolled = curl(
        "-X", "POST", f"{local_stack.url}/api/embeddings",
        "-F", "organization=MyOrganization", "-F", "images=@img1.jpg", "-F", "images=@img2.jpg",
        cwd=faces_dir,
    )
    assert status == 201, enrolled
    assert [e["image"] for e in enrolled["embeddings"]] == ["img1.jpg", "img2.jpg"]
    status, result = curl(
        "-X", "POST", f"{local_stack.url}/api/face-compare",
        "-F", "organization=MyOrganization", "-F", "image=@img4.jpg",
        cwd=faces_dir,
    )
    assert status == 200, result
    assert result["embed_id"] in {e["embed_id"] for e in enrolled["embeddings"]}
    assert result["match"] is True


def test_the_same_curl_command_with_an_idempotency_key_run_twice_holds_one_face(local_stack, faces_dir, tmp_path):
    organization = f"idem-{uuid.uuid4().hex[:8]}"
    answers = []
    for attempt in (1, 2):
        headers, body = tmp_path / f"headers-{attempt}", tmp_path / f"body-{attempt}"
        subprocess.run(
            [
                "curl", "-s", "-D", str(headers), "-o", str(body), "-H", f"x-api-key: {ADMIN_KEY}",
                "-X", "POST", f"{local_stack.url}/api/embeddings", "-H", "Idempotency-Key: order-42",
                "-F", f"organization={organization}", "-F", "images=@img1.jpg",
            ],
            cwd=faces_dir, check=True,
        )
        answers.append((headers.read_text().lower(), json.loads(body.read_text())))
    (first_head, first), (second_head, second) = answers
    assert " 201 " in first_head and " 201 " in second_head, (first_head, second_head)
    assert "idempotent-replayed: true" in second_head and "idempotent-replayed" not in first_head
    assert second == first
    status, listing = curl("-G", f"{local_stack.url}/api/embeddings", "-d", f"organization={organization}", cwd=faces_dir)
    assert status == 200 and [e["embed_id"] for e in listing["embeddings"]] == [first["embed_id"]]


def test_the_original_apps_curl_commands_with_trailing_slashes_enroll_and_find_the_person(local_stack, faces_dir):
    # The original README's two commands, but for host, port and the x-api-key header.
    organization = "MyOrganization"
    status, enrolled = curl(
        "-X", "POST", f"{local_stack.url}/api/embeddings/",
        "-F", f"organization={organization}", "-F", "images=@img1.jpg", "-F", "images=@img2.jpg",
        cwd=faces_dir,
    )
    assert status == 201, enrolled
    first = enrolled["embeddings"][0]
    assert (enrolled["organization"], enrolled["embed_id"], enrolled["created_at"]) == (
        organization, first["embed_id"], first["created_at"]
    )
    status, result = curl(
        "-X", "POST", f"{local_stack.url}/api/face-compare/",
        "-F", f"organization={organization}", "-F", "image=@img4.jpg",
        cwd=faces_dir,
    )
    assert status == 200, result
    assert 0.9 < result["similarity_score"] <= 1.0 and result["match"] is True
    status, listing = curl("-G", f"{local_stack.url}/api/embeddings/", "-d", f"organization={organization}", cwd=faces_dir)
    sources = {e["embed_id"]: e["source"] for e in listing["embeddings"]}  # other tests enroll here too
    assert sources[result["embed_id"]] in {"img1.jpg", "img2.jpg"}


def test_the_cli_enrolls_a_directory_and_identifies_a_photo(local_stack, faces_dir, tmp_path):
    organization = f"cli-{uuid.uuid4().hex[:8]}"
    for name in ("img3.jpg", "img5.jpg", "img17.jpg", "img54.jpg"):
        shutil.copy(faces_dir / name, tmp_path / name)
    (tmp_path / "notes.jpg").write_bytes(b"not a photo")
    enroll = subprocess.run(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "enroll", "--org", organization, str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert enroll.returncode == 1, enroll.stdout + enroll.stderr  # one file is not a photo
    assert "notes.jpg" in enroll.stdout and "INVALID_IMAGE" in enroll.stdout
    assert enroll.stdout.count(".jpg  embed_id=") == 4

    compare = subprocess.run(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "compare", "--org", organization, str(faces_dir / "img1.jpg"), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    result = json.loads(compare.stdout)
    assert compare.returncode == (0 if result["match"] else 1)
    assert {"embed_id", "similarity_score", "distance", "threshold", "match"} <= set(result)


def test_the_cli_with_skip_enrolls_one_face_per_person_from_a_directory(local_stack, faces_dir, tmp_path):
    organization = f"skip-{uuid.uuid4().hex[:8]}"
    for name in ("img1.jpg", "img2.jpg", "img3.jpg", "img4.jpg"):  # angelina, angelina, jennifer, angelina
        shutil.copy(faces_dir / name, tmp_path / name)
    enroll = subprocess.run(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "enroll", "--org", organization,
         "--on-duplicate", "skip", "--quality-filter", "auto", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert enroll.returncode == 0, enroll.stdout + enroll.stderr
    lines = enroll.stdout.splitlines()
    assert lines[-1] == "enrolled 2, skipped 2, failed 0", enroll.stdout
    assert [line.split()[0].rsplit("/", 1)[-1] for line in lines if "SKIPPED" in line] == ["img2.jpg", "img4.jpg"]
    status, listing = curl("-G", f"{local_stack.url}/api/embeddings", "-d", f"organization={organization}", cwd=faces_dir)
    assert status == 200 and len(listing["embeddings"]) == 2


@pytest.mark.parametrize(
    ("method", "path", "content", "headers", "status", "code"),
    [
        ("GET", "/api/no-such-route", None, {}, 404, "NOT_FOUND"),
        ("POST", "/api/embeddings", b"organization=acme", {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "POST", "/api/embeddings", b"--XYZ\r\nContent-Disposition: form-data; name=\"organization\"\r\n\r\nacme",
            {"Content-Type": "multipart/form-data; boundary=XYZ"}, 400, "VALIDATION_ERROR",
        ),
        ("POST", "/api/face-compare", b"{broken", {"Content-Type": "application/json"}, 400, "VALIDATION_ERROR"),
        ("POST", "/api/face-compare", b"x" * (11 * 1024 * 1024), {"Content-Type": "image/jpeg"}, 413, "REQUEST_TOO_LARGE"),
    ],
)
def test_bad_requests_get_a_4xx_json_error(local_stack, method, path, content, headers, status, code):
    headers = {"x-api-key": ADMIN_KEY, **headers}
    response = httpx.request(method, f"{local_stack.url}{path}", content=content, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def test_ctrl_c_stops_the_api_and_the_embedded_aws_with_no_process_left(tmp_path):
    stack = start_stack(tmp_path / "make-run.log")
    assert httpx.get(f"{stack.aws_endpoint}/facematch-local", timeout=10).status_code == 200
    stack.stop()
    assert not stack.group_alive()
    log = stack.log.read_text()
    assert "FaceMatch API" in log and "bucket facematch-local" in log and "in memory" in log
    assert f"Admin API key      {ADMIN_KEY}" in log
    # make reports a recipe that did not exit with 0 ("make: *** [...] Error 1"); make itself
    # then dies of the SIGINT it got too, as make does on every Ctrl-C.
    assert "Traceback" not in log and "make: ***" not in log, log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack.url}/api/health", timeout=2)


def test_a_photo_copied_into_the_embedded_bucket_becomes_searchable(local_stack, faces_dir):
    import boto3

    organization = f"drop-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client(
        "s3", endpoint_url=local_stack.aws_endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )
    s3.put_object(
        Bucket="facematch-local", Key=f"uploads/{organization}/angelina one.jpg",
        Body=(faces_dir / "img1.jpg").read_bytes(), Metadata={"external-id": "angelina"},
    )
    uploads = wait_for_uploads(local_stack, organization)
    assert [(u["key"], u["status"]) for u in uploads] == [(f"uploads/{organization}/angelina one.jpg", "enrolled")]
    status, result = curl(
        "-X", "POST", f"{local_stack.url}/api/face-compare",
        "-F", f"organization={organization}", "-F", "image=@img2.jpg", cwd=faces_dir,
    )
    assert status == 200
    assert (result["match"], result["external_id"]) == (True, "angelina")


def test_swagger_ui_and_the_openapi_document_are_served(local_stack):
    page = httpx.get(f"{local_stack.url}/api/swagger", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    served = httpx.get(f"{local_stack.url}/api/openapi.json", headers={"x-api-key": ADMIN_KEY}, timeout=10).json()
    assert served["info"]["title"] == "FaceMatch"
    assert "/api/face-compare" in served["paths"]


def test_an_organization_key_from_the_cli_enrolls_without_naming_the_organization(local_stack, faces_dir):
    organization = f"keyed-{uuid.uuid4().hex[:8]}"
    created = subprocess.run(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "keys", "create", "--org", organization, "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    status, enrolled = curl("-X", "POST", f"{local_stack.url}/api/embeddings", "-F", "images=@img1.jpg", cwd=faces_dir, key=key)
    assert (status, enrolled["organization"]) == (201, organization)
    status, refused = curl(
        "-X", "POST", f"{local_stack.url}/api/embeddings", "-F", "organization=someone-else", "-F", "images=@img1.jpg",
        cwd=faces_dir, key=key,
    )
    assert (status, refused["error"]["code"]) == (403, "FORBIDDEN")
    status, refused = curl("-X", "GET", f"{local_stack.url}/api/uploads", cwd=faces_dir, key="wrong")
    assert (status, refused["error"]["code"]) == (401, "UNAUTHORIZED")
    trail = subprocess.run(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "audit", "--org", organization, "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert trail.returncode == 0, trail.stderr
    (record,) = json.loads(trail.stdout)["records"]
    assert (record["action"], record["actor"], record["key_id"]) == ("key.created", "admin", json.loads(created.stdout)["key_id"])


def test_a_presigned_upload_url_enrolls_a_large_photo(local_stack, faces_dir):
    organization = f"presigned-{uuid.uuid4().hex[:8]}"
    photo = (faces_dir / "img1.jpg").read_bytes()
    status, upload = curl(
        "-X", "POST", f"{local_stack.url}/api/uploads", "-F", f"organization={organization}",
        "-F", "filename=big photo.jpg", "-F", "content_type=image/jpeg", "-F", f"size={len(photo)}",
        "-F", "external_id=angelina", cwd=faces_dir,
    )
    assert status == 201, upload
    assert upload["key"].startswith(f"uploads/{organization}/")
    put = httpx.put(upload["url"], content=photo, headers=upload["headers"], timeout=60)
    assert put.status_code == 200, put.text
    uploads = wait_for_uploads(local_stack, organization)
    assert [(u["status"], u["external_id"]) for u in uploads] == [("enrolled", "angelina")]


# `facematch import`: a generated tree of the test photos, through the API and through the inbox.


def import_tree(root: Path, faces_dir: Path, persons: int, photos_each: int) -> tuple[Path, str, dict[str, int]]:
    """ORGANIZATION/PERSON/photo.jpg from the test photos (copied to a temporary folder), and a
    photo without a face under the person "nobody"."""
    organization = f"import-{uuid.uuid4().hex[:8]}"
    counts = {}
    for person, files in list(identities(faces_dir).items())[:persons]:
        folder = root / organization / person
        folder.mkdir(parents=True)
        for name in files[:photos_each]:
            (folder / name).write_bytes((faces_dir / name).read_bytes())
        counts[person] = len(files[:photos_each])
    (root / organization / "nobody").mkdir()
    (root / organization / "nobody" / "wall.png").write_bytes(blank_image())
    return root, organization, counts


def facematch(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "--url", url, "--api-key", ADMIN_KEY, *args], capture_output=True, text=True, timeout=600)


def persons(url: str, organization: str) -> dict[str, int]:
    listed = facematch(url, "persons", "--org", organization, "--json")
    assert listed.returncode == 0, listed.stderr
    return {p["external_id"]: p["faces"] for p in json.loads(listed.stdout)["persons"]}


def held_faces(url: str, organization: str) -> int:
    listed = httpx.get(
        f"{url}/api/embeddings", params={"organization": organization, "limit": "1000"},
        headers={"x-api-key": ADMIN_KEY}, timeout=30,
    ).json()
    return len(listed.get("embeddings", []))


def test_an_import_interrupted_halfway_and_run_again_holds_each_photo_once_and_reports_the_photo_without_a_face(
    local_stack, faces_dir, tmp_path
):
    tree, organization, counts = import_tree(tmp_path / "tree", faces_dir, persons=4, photos_each=2)
    report = tmp_path / "failures.csv"
    # One request a second: Ctrl-C lands once a few photos are enrolled, before the rest are.
    slow = subprocess.Popen(
        [CLI, "--url", local_stack.url, "--api-key", ADMIN_KEY, "import", str(tree), "--report", str(report),
         "--concurrency", "1", "--max-per-second", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while held_faces(local_stack.url, organization) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    slow.send_signal(signal.SIGINT)
    assert slow.wait(timeout=120) == 130
    halfway = held_faces(local_stack.url, organization)
    assert 2 <= halfway < sum(counts.values())

    for _ in range(2):  # run again, and once more: nothing enrolled twice
        run = facematch(local_stack.url, "import", str(tree), "--report", str(report))
        assert run.returncode == 1, run.stderr  # the face-less photo
        assert f"enrolled {sum(counts.values())}, skipped 0, failed 1" in run.stdout, run.stdout
        assert persons(local_stack.url, organization) == counts
    rows = list(csv.DictReader(report.open()))
    assert [(r["person"], Path(r["photo"]).name, r["code"]) for r in rows] == [("nobody", "wall.png", "NO_FACE_DETECTED")]


def test_an_import_through_the_inbox_follows_each_uploads_outcome(local_stack, faces_dir, tmp_path):
    tree, organization, counts = import_tree(tmp_path / "tree", faces_dir, persons=2, photos_each=1)
    report = tmp_path / "failures.csv"
    run = facematch(local_stack.url, "import", str(tree), "--via-s3", "--report", str(report))
    assert run.returncode == 1, run.stderr
    assert f"enrolled {sum(counts.values())}, skipped 0, failed 1" in run.stdout, run.stdout
    assert persons(local_stack.url, organization) == counts
    (row,) = csv.DictReader(report.open())
    assert (row["person"], row["code"]) == ("nobody", "NO_FACE_DETECTED")
    listing = httpx.get(
        f"{local_stack.url}/api/uploads", params={"organization": organization, "status": "failed"},
        headers={"x-api-key": ADMIN_KEY}, timeout=30,
    ).json()
    # A failed upload's record keeps no label (no erasure of a person would reach it): its key names the photo.
    assert [(u["key"].endswith("wall.png"), u["error"]["code"]) for u in listing["uploads"]] == [(True, "NO_FACE_DETECTED")]


def test_a_duplicate_report_runs_in_the_report_workers_process_and_the_cli_prints_a_person_enrolled_twice(local_stack, faces_dir):
    organization = f"report-{uuid.uuid4().hex[:8]}"
    angelina, jennifer = identities(faces_dir)["angelina"], identities(faces_dir)["jennifer"]
    for person, photos in (("angelina", angelina[:2]), ("angie", angelina[2:4]), ("jennifer", jennifer[:1])):
        enrolled = facematch(local_stack.url, "enroll", "--org", organization, "--person", person, *(str(faces_dir / p) for p in photos))
        assert enrolled.returncode == 0, enrolled.stderr

    found = facematch(local_stack.url, "duplicates", "--org", organization, "--json")

    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert report["status"] == "done" and report["faces"] == 5
    labels = [sorted({m["external_id"] for m in group["members"]}) for group in report["groups"]]
    assert ["angelina", "angie"] in labels and all("jennifer" not in group for group in labels)
