"""`make run` under the README's upload flow with compares running at the same time.

Uploads are enrolled by the queue poller while the API serves compares: in one process these
once ran native face code in two threads at once, and crashed the stack or corrupted vectors.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError

from facematch_testing.photos import identities
from facematch_testing.stack import ADMIN_KEY, wait_for_uploads

# Its own stack (one module under `--dist loadgroup`): a crash here takes no other test down.
pytestmark = [pytest.mark.model, pytest.mark.xdist_group("under-load")]
UPLOAD_RUNS = 20
# Bounded, so that the test stays short on two cores.
CONCURRENT_FLOWS = 3
BACKGROUND_COMPARERS = 2


def compare(stack, organization: str, photo: bytes) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/api/face-compare", headers={"x-api-key": ADMIN_KEY},
        data={"organization": organization}, files={"image": ("query.jpg", photo, "image/jpeg")}, timeout=60,
    )


def test_every_upload_is_found_while_compares_run_and_the_stack_stays_up(local_stack, faces_dir):
    people = [(name, files) for name, files in sorted(identities(faces_dir).items()) if len(files) >= 2]
    s3 = boto3.client(
        "s3", endpoint_url=local_stack.aws_endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )
    steady = f"steady-{uuid.uuid4().hex[:8]}"
    enrolled = httpx.post(
        f"{local_stack.url}/api/embeddings", headers={"x-api-key": ADMIN_KEY}, data={"organization": steady},
        files={"images": ("img1.jpg", (faces_dir / "img1.jpg").read_bytes(), "image/jpeg")}, timeout=60,
    )
    assert enrolled.status_code == 201, enrolled.text
    query = (faces_dir / "img2.jpg").read_bytes()
    uploads_done = threading.Event()

    def compare_until_the_uploads_are_done() -> list[int | str]:
        statuses: list[int | str] = []
        while not uploads_done.is_set():
            try:
                statuses.append(compare(local_stack, steady, query).status_code)
            except httpx.TransportError as error:
                return [*statuses, f"no answer: {error!r}"]
        return statuses

    def upload_then_find(run: int) -> tuple[str, str | None]:
        """The README's flow: copy a photo of someone into the inbox, wait until it is enrolled,
        then compare another photo of them. Returns who was uploaded and who was found."""
        person, files = people[run % len(people)]
        organization = f"load-{uuid.uuid4().hex[:8]}-{run}"
        try:
            s3.put_object(
                Bucket="facematch-local", Key=f"uploads/{organization}/{files[0]}",
                Body=(faces_dir / files[0]).read_bytes(), Metadata={"external-id": person},
            )
            outcomes = wait_for_uploads(local_stack, organization, seconds=60)
            if [u["status"] for u in outcomes] != ["enrolled"]:
                return person, f"upload outcomes {outcomes}"
            found = compare(local_stack, organization, (faces_dir / files[1]).read_bytes())
        except (httpx.TransportError, EndpointConnectionError) as error:
            return person, f"no answer: {error!r}"
        body = found.json()
        return person, body.get("external_id") if body.get("match") else f"{found.status_code} {body}"

    with ThreadPoolExecutor(BACKGROUND_COMPARERS) as comparers:
        background = [
            comparers.submit(compare_until_the_uploads_are_done) for _ in range(BACKGROUND_COMPARERS)
        ]
        try:
            with ThreadPoolExecutor(CONCURRENT_FLOWS) as flows:
                results = list(flows.map(upload_then_find, range(UPLOAD_RUNS)))
        finally:
            uploads_done.set()
        steady_statuses = [status for comparer in background for status in comparer.result()]

    assert [found for _, found in results] == [person for person, _ in results]
    assert steady_statuses and set(steady_statuses) == {200}
    assert local_stack.process.poll() is None, "make run died"
    assert httpx.get(f"{local_stack.url}/api/health", timeout=10).status_code == 200
