"""Each image function of template.yaml, built from its own Dockerfile with its base image's
Python and invoked from the result alone, against a moto server holding the template's bucket,
table and admin key parameter.

No Docker here: tests/support/image_build.py runs the Dockerfiles' steps in scratch roots, and
tests/support/base_image.py says what stands in for the base image. A step that fails in the
image fails here.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path

import boto3
import pytest

from facematch.aws import reset_clients
from facematch_local.embedded_aws import start_moto_server
from facematch_local.resources import TEMPLATE, create_resources, load_template
from facematch_testing.events import load_event, multipart_event
from facematch_testing.images.base_image import (
    BuiltImage,
    base_image_python,
    dockerfile_python_version,
    find_python,
)
from facematch_testing.images.build import build_images
from facematch_testing.images.lambda_invoke import Invocation, invoke
from facematch_testing.images.layer_cache import LayerCache
from facematch_testing.images.sam_functions import REGION, ImageFunction, image_functions, references

pytestmark = [pytest.mark.model, pytest.mark.network, pytest.mark.xdist_group("images")]
ADMIN_KEY = "images-test-admin-key"
# Lambda's architecture names for this machine's: an image can only be run where it was built for.
THIS_MACHINE = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine())
# Like Docker's build cache: an unchanged RUN step replays what it did last time (see layer_cache).
LAYER_CACHE = TEMPLATE.parent / ".cache" / "images"
# Scratch roots being removed in the background: kept, so that none is reported as still running.
REMOVALS: list[subprocess.Popen] = []


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def functions(template) -> dict[str, ImageFunction]:
    return image_functions(template, TEMPLATE.parent)


@pytest.fixture(scope="module")
def images(functions, tmp_path_factory) -> dict[str, BuiltImage]:
    """Every image function, built per Dockerfile (images of one Dockerfile share its common steps)."""
    groups: dict[tuple, dict[str, dict[str, str]]] = defaultdict(dict)
    for function in functions.values():
        if function.architecture != THIS_MACHINE:
            pytest.skip(f"{function.logical_id} is built for {function.architecture}, which this machine cannot run")
        groups[(function.dockerfile, function.context, function.architecture)][function.logical_id] = function.build_args
    cache = LayerCache(LAYER_CACHE)
    scratch = tmp_path_factory.mktemp("images")
    built = {}
    for (dockerfile, context, architecture), build_args in groups.items():
        python = base_python(dockerfile)
        started = time.perf_counter()
        built |= build_images(dockerfile, context, build_args, python, scratch / dockerfile.parent.name, architecture, cache)
        print(f"{sorted(build_args)} built in {time.perf_counter() - started:.1f} s")
    for logical_id, image in built.items():
        print(f"{logical_id}: {image.size_bytes() / 1e6:.0f} MB over the base image")
    yield built
    # About 1.5 GB, much of a minute on a busy machine: removed while this worker goes on.
    REMOVALS.append(subprocess.Popen(["rm", "-rf", str(scratch)], start_new_session=True))


def base_python(dockerfile: Path) -> Path:
    version = dockerfile_python_version(dockerfile)
    interpreter = find_python(version)
    if interpreter is None:
        pytest.skip(f"python{version}, the Python of {dockerfile.name}'s base image, is not installed here")
    return base_image_python(interpreter, LAYER_CACHE)


@pytest.fixture(scope="module")
def aws_endpoint(template):
    """A moto server with the bucket and table of the template, and the admin key in SSM."""
    names = references(template)
    server, endpoint = start_moto_server()
    try:
        with pytest.MonkeyPatch.context() as environment:
            environment.setenv("FACEMATCH_AWS_ENDPOINT", endpoint)
            reset_clients()
            create_resources(names["FaceMatchBucket"], names["FaceMatchTable"], template)
            ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION)
            ssm.put_parameter(Name=names["AdminKeyParameterName"], Type="SecureString", Value=ADMIN_KEY)
        reset_clients()
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def run(images, functions, aws_endpoint, tmp_path_factory):
    """Invoke a function's image with events: one process, one cold start."""

    def run(logical_id: str, events: list[dict]) -> Invocation:
        environment = {
            **functions[logical_id].environment,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "FACEMATCH_AWS_ENDPOINT": aws_endpoint,
            "AWS_ENDPOINT_URL_SSM": aws_endpoint,  # Powertools' own SSM client reads the admin key
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        invocation = invoke(images[logical_id], events, environment, tmp_path_factory.mktemp(logical_id))
        print(f"{logical_id}: init {invocation.init_s:.2f} s")
        return invocation

    return run


# Each sample event under events/ and its answer here, as docs/operations.md's table gives them
# (`sam local invoke FUNCTION -e events/FILE`): the samples carry a placeholder API key and a
# blank picture, and the upload names an object that is not in the bucket.
SAMPLE_ANSWERS = {
    "authorizer-request.json": ("AuthorizerFunction", "Exception: Unauthorized"),
    "health.json": ("ApiFunction", "200"),
    "enroll-multipart.json": ("ApiFunction", "422 NO_FACE_DETECTED"),
    "enroll-json.json": ("ApiFunction", "422 NO_FACE_DETECTED"),
    "sqs-s3-upload.json": ("ApiFunction", "batchItemFailures: []"),
    "compare-multipart.json": ("MatchingFunction", "422 NO_FACE_DETECTED"),
    "compare-json.json": ("MatchingFunction", "422 NO_FACE_DETECTED"),
    "sqs-report-task.json": ("ReportFunction", "batchItemFailures: []"),
}


@pytest.fixture(scope="module")
def invocations(run, faces_dir) -> dict[str, Invocation]:
    """Each function's image in one process: first a real request, then its sample events.

    The admin key is authorized; img1.jpg is enrolled, then img4.jpg (the same person,
    identities.csv) compared, in a fresh organization.
    """
    organization = f"org-{uuid.uuid4().hex[:12]}"
    admin = load_event("authorizer-request.json")
    admin["headers"]["x-api-key"] = ADMIN_KEY
    enroll = multipart_event(
        "enroll-multipart.json", [("organization", organization)], [("images", "img1.jpg", (faces_dir / "img1.jpg").read_bytes())]
    )
    compare = multipart_event(
        "compare-multipart.json", [("organization", organization)], [("image", "img4.jpg", (faces_dir / "img4.jpg").read_bytes())]
    )
    results = {}
    # A task of a report that does not exist: dropped, as a task of a cancelled or expired one is.
    task = load_event("sqs-report-task.json")
    functions = (("AuthorizerFunction", admin), ("ApiFunction", enroll), ("MatchingFunction", compare), ("ReportFunction", task))
    for logical_id, request in functions:
        samples = [load_event(name) for name, (function, _) in SAMPLE_ANSWERS.items() if function == logical_id]
        results[logical_id] = run(logical_id, [request, *samples])
    return results


def answer(response: dict | str) -> str:
    """A response in a few words: the status and error code, the batch failures, or the error raised."""
    if isinstance(response, str):
        return response
    if "batchItemFailures" in response:
        return f"batchItemFailures: {response['batchItemFailures']}"
    error = json.loads(response["body"]).get("error") if response.get("body") else None
    return f"{response['statusCode']} {error['code']}" if error else str(response["statusCode"])


def assert_started_from_the_image_alone(invocation: Invocation) -> None:
    assert invocation.outside_task_root == []
    assert not invocation.tensorflow
    # Lambda's file system is read-only: the weights and bytecode must all be there already.
    assert invocation.written == []


def test_every_image_function_of_the_template_is_built_and_invoked_here(functions):
    assert set(functions) == {"AuthorizerFunction", "ApiFunction", "MatchingFunction", "ReportFunction"}


def test_the_authorizer_image_allows_the_admin_key(invocations):
    invocation = invocations["AuthorizerFunction"]
    policy = invocation.responses[0]
    assert [statement["Effect"] for statement in policy["policyDocument"]["Statement"]] == ["Allow"]
    assert policy["context"]["role"] == "admin"
    assert_started_from_the_image_alone(invocation)


def test_the_embedding_image_enrolls_a_real_photo(invocations):
    invocation = invocations["ApiFunction"]
    response = invocation.responses[0]
    assert response["statusCode"] == 201, response
    [embedding] = json.loads(response["body"])["embeddings"]
    assert embedding["model"] == "Dlib"
    assert_started_from_the_image_alone(invocation)


def test_the_comparison_image_matches_another_photo_of_the_enrolled_person(invocations):
    [embedding] = json.loads(invocations["ApiFunction"].responses[0]["body"])["embeddings"]
    invocation = invocations["MatchingFunction"]
    response = invocation.responses[0]
    assert response["statusCode"] == 200, response
    result = json.loads(response["body"])
    assert (result["match"], result["embed_id"]) == (True, embedding["embed_id"])
    assert_started_from_the_image_alone(invocation)


def test_the_report_image_starts_without_the_face_model_and_drops_a_task_of_no_report(invocations):
    invocation = invocations["ReportFunction"]
    assert answer(invocation.responses[0]) == "batchItemFailures: []"
    assert_started_from_the_image_alone(invocation)


def test_every_sample_event_is_documented_and_gives_its_documented_answer(invocations):
    assert sorted(SAMPLE_ANSWERS) == sorted(path.name for path in (TEMPLATE.parent / "events").glob("*.json"))
    answers = {}
    for logical_id, invocation in invocations.items():
        samples = [name for name, (function, _) in SAMPLE_ANSWERS.items() if function == logical_id]
        answers |= {name: (logical_id, answer(response)) for name, response in zip(samples, invocation.responses[1:])}
    assert answers == SAMPLE_ANSWERS
