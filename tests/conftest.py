"""Shared fixtures: a mocked AWS account, the functions' handlers (stub faces or the real model),
and the test photos. Tests that load the model or read the photos are marked ``model`` here,
so ``make test-unit`` (``-m "not model"``) never loads the weights."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Set before any handler module is imported: they read configuration once, at init.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FACEMATCH_BUCKET": "facematch-test",
        "FACEMATCH_TABLE": "facematch-test",
        "POWERTOOLS_SERVICE_NAME": "facematch",
        "POWERTOOLS_METRICS_NAMESPACE": "FaceMatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "FACEMATCH_ADMIN_KEY": "test-admin-key",
        "FACEMATCH_PAGE_TOKEN_SECRET": "test-page-token-secret",
        # moto's URL of template.yaml's JobQueue, as mocked_aws() creates it.
        "FACEMATCH_JOB_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/facematch-test-JobQueue",
        "FACEMATCH_REPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/facematch-test-ReportQueue",
        # The checkout the local stack's modules read the template and the functions from, and
        # the document the API serves (the image names its own copy).
        "FACEMATCH_PROJECT_ROOT": str(ROOT),
        "FACEMATCH_OPENAPI_FILE": str(ROOT / "openapi.json"),
    }
)
os.environ.pop("FACEMATCH_AWS_ENDPOINT", None)
os.environ.setdefault("DEEPFACE_HOME", str(ROOT / ".cache" / "deepface"))

# The X-Ray SDK opens a UDP socket when it is first imported (it sends nothing while tracing is
# disabled). Imported here, before make test-unit's --disable-socket applies to every test.
import aws_xray_sdk.core  # noqa: E402, F401

# moto intercepts the boto3 clients created after it is imported; FaceMatch's clients are built
# once (at a handler's init) and kept, so moto comes first, whichever fixture runs first.
import moto  # noqa: E402, F401

# Fixtures that need the real model's weights or the shared photos.
MODEL_FIXTURES = {"faces_dir", "model_api_app", "model_matching_app", "local_stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """`--dist loadgroup` (make test): each xdist_group on one worker, so a module-scoped local stack
    or image build is set up once. pytest-xdist 3.8 marks a test's group by appending it to
    ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is ``item._id`` now), so every
    group would be silently spread over both workers (pytest-dev/pytest-xdist#1386). Append it
    where pytest 9.2 reads it, before the worker sends its collection; a no-op once xdist does so."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in session.items:
        groups = {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                  for mark in item.iter_markers("xdist_group")}
        suffix = "@" + "_".join(sorted(groups))  # as xdist names a test's groups
        if groups and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
            if not item.nodeid.endswith(suffix):
                raise pytest.UsageError(f"{item.nodeid}: cannot apply its xdist_group {sorted(groups)}")
        if not groups and "local_stack" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} starts a module's local stack: give the module an xdist_group")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    from facematch_testing.photos import MISSING_PHOTOS, locate_faces_dir

    path, found = locate_faces_dir()
    if not found:
        pytest.fail(MISSING_PHOTOS.format(path=path))
    return path


@pytest.fixture
def aws():
    """A fresh mocked AWS account with FaceMatch's bucket, table and queues (from template.yaml);
    the queues' URLs by logical id."""
    from facematch_testing.aws import mocked_aws

    with mocked_aws() as queue_urls:
        yield queue_urls


@pytest.fixture
def organization() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def lambda_context():
    from facematch_local.context import LambdaContext

    return LambdaContext()


# The handlers on the stub face networks: every test that is not about faces.


@pytest.fixture(scope="session")
def api_app():
    from facematch_testing.handlers import load_handler

    return load_handler("api", stub_faces=True)


@pytest.fixture(scope="session")
def matching_app():
    from facematch_testing.handlers import load_handler

    return load_handler("matching", stub_faces=True)


@pytest.fixture(scope="session")
def authorizer_app():
    from facematch_testing.handlers import load_handler

    return load_handler("authorizer")


@pytest.fixture(scope="session")
def report_app():
    """The duplicate reports' worker function (no face model in any case)."""
    from facematch_testing.handlers import load_handler

    return load_handler("reports")


# The handlers with the real model, for the tests about faces.


@pytest.fixture(scope="session")
def model_api_app():
    from facematch_testing.handlers import load_handler

    return load_handler("api")


@pytest.fixture(scope="session")
def model_matching_app():
    from facematch_testing.handlers import load_handler

    return load_handler("matching")
